//! `dashboard { listeners.http, listeners.https, default_username, default_password, ... }`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::reader::{self, Ctx, Section};
use crate::secret::Secret;
use crate::tls::{ListenerSslOptions, read_listener_ssl};

/// The HTTP API / dashboard server.
#[derive(Debug, Clone, PartialEq)]
pub struct DashboardConfig {
    /// Plain HTTP listener.
    pub http: DashboardListener,
    /// HTTPS listener (disabled unless configured).
    pub https: DashboardListener,
    /// TLS settings of the HTTPS listener.
    pub https_ssl_options: ListenerSslOptions,
    /// Administrator created on first start.
    pub default_username: String,
    /// Password of `default_username` on first start.
    pub default_password: Secret,
    /// Lifetime of a login token.
    pub token_expired_time: Duration,
    /// Whether CORS headers are sent.
    pub cors: bool,
    /// Whether the Swagger UI is served.
    pub swagger_support: bool,
    /// Locking of a user after failed logins.
    pub unsuccessful_login: UnsuccessfulLogin,
}

/// `dashboard.unsuccessful_login`: `max_attempts` failed logins of one user within `time_window`
/// lock that user for `lock_duration` (EMQX defaults 5, 5m, 10m).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsuccessfulLogin {
    pub max_attempts: u32,
    pub time_window: Duration,
    pub lock_duration: Duration,
}

impl Default for UnsuccessfulLogin {
    fn default() -> Self {
        UnsuccessfulLogin {
            max_attempts: 5,
            time_window: Duration::from_secs(300),
            lock_duration: Duration::from_secs(600),
        }
    }
}

/// One dashboard listener; port 0 disables it, as in EMQX.
#[derive(Debug, Clone, PartialEq)]
pub struct DashboardListener {
    /// Whether it listens.
    pub enable: bool,
    /// Address to listen on.
    pub bind: SocketAddr,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            http: DashboardListener {
                enable: true,
                bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 18083),
            },
            https: DashboardListener {
                enable: false,
                bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            },
            https_ssl_options: ListenerSslOptions::default(),
            default_username: "admin".to_string(),
            default_password: Secret::new("public"),
            token_expired_time: Duration::from_secs(60 * 60),
            cors: false,
            swagger_support: true,
            unsuccessful_login: UnsuccessfulLogin::default(),
        }
    }
}

fn listener(
    mut sec: Section<'_>,
    ctx: &mut Ctx<'_>,
    d: DashboardListener,
) -> (DashboardListener, Option<ListenerSslOptions>) {
    let out = DashboardListener {
        enable: sec.get(ctx, "enable", d.enable, reader::boolean),
        bind: sec.get(ctx, "bind", d.bind, reader::bind),
    };
    let ssl = sec.has("ssl_options").then(|| {
        let s = sec.section(ctx, "ssl_options");
        read_listener_ssl(s, ctx)
    });
    sec.accept(&[
        "num_acceptors",
        "max_connections",
        "backlog",
        "send_timeout",
        "inet6",
        "ipv6_v6only",
        "proxy_header",
    ]);
    sec.finish(ctx);
    (out, ssl)
}

fn unsuccessful_login(mut sec: Section<'_>, ctx: &mut Ctx<'_>) -> UnsuccessfulLogin {
    let d = UnsuccessfulLogin::default();
    let out = UnsuccessfulLogin {
        max_attempts: sec.get(
            ctx,
            "max_attempts",
            u64::from(d.max_attempts),
            reader::int_in(1, u64::from(u32::MAX)),
        ) as u32,
        time_window: sec.get(ctx, "time_window", d.time_window, reader::duration),
        lock_duration: sec.get(ctx, "lock_duration", d.lock_duration, reader::duration),
    };
    sec.finish(ctx);
    out
}

pub(crate) fn read(mut sec: Section<'_>, ctx: &mut Ctx<'_>) -> DashboardConfig {
    let d = DashboardConfig::default();
    let mut listeners = sec.section(ctx, "listeners");
    let http_sec = listeners.section(ctx, "http");
    let (http, _) = listener(http_sec, ctx, d.http);
    let https_present = listeners.has("https");
    let https_sec = listeners.section(ctx, "https");
    let https_default = DashboardListener {
        // In EMQX, writing an https section (with a port) is what turns it on.
        enable: https_present,
        ..d.https
    };
    let (https, https_ssl) = listener(https_sec, ctx, https_default);
    listeners.finish(ctx);
    let out = DashboardConfig {
        http,
        https,
        https_ssl_options: https_ssl.unwrap_or(d.https_ssl_options),
        default_username: sec.get(
            ctx,
            "default_username",
            d.default_username,
            reader::non_empty_string,
        ),
        default_password: sec.get(ctx, "default_password", d.default_password, |v| {
            reader::non_empty_string(v).map(Secret::new)
        }),
        token_expired_time: sec.get(
            ctx,
            "token_expired_time",
            d.token_expired_time,
            reader::duration,
        ),
        cors: sec.get(ctx, "cors", d.cors, reader::boolean),
        swagger_support: sec.get(ctx, "swagger_support", d.swagger_support, reader::boolean),
        unsuccessful_login: unsuccessful_login(sec.section(ctx, "unsuccessful_login"), ctx),
    };
    sec.accept(&[
        "i18n_lang",
        "bootstrap_users_file",
        "sso",
        "password_expired_time",
    ]);
    sec.finish(ctx);
    out
}
