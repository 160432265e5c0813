//! Runtime link changes survive a restart: after every change made through the API, the whole
//! `cluster.links` list is written to `<node.data_dir>/configs/cluster.hocon` (EMQX's file for
//! runtime configuration). At start, when that file exists, its `cluster.links` replaces the one of
//! `etc/emqx.conf` (and of `EMQX_CLUSTER__LINKS`): the last change made at runtime wins. Delete the
//! file to go back to the static configuration.

use std::io;
use std::path::{Path, PathBuf};

use linkmq_config::{LinkConfig, links_to_hocon};

/// Where runtime link changes are kept, relative to `node.data_dir`.
pub const RUNTIME_CONFIG_FILE: &str = "configs/cluster.hocon";

/// `<data_dir>/configs/cluster.hocon`.
pub fn runtime_config_path(data_dir: &Path) -> PathBuf {
    data_dir.join(RUNTIME_CONFIG_FILE)
}

/// The persisted links, if a runtime file exists.
pub fn load_links(data_dir: &Path) -> Result<Option<Vec<LinkConfig>>, String> {
    let path = runtime_config_path(data_dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let config = linkmq_config::parse_str(&text, &path.display().to_string(), &[])
        .map_err(|e| e.to_string())?;
    Ok(Some(config.cluster.links))
}

/// Writes `links` atomically (temporary file, then rename).
pub fn save_links(data_dir: &Path, links: &[LinkConfig]) -> io::Result<()> {
    let path = runtime_config_path(data_dir);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("hocon.tmp");
    let text = format!(
        "## Written by linkmq on every runtime change of cluster links (REST API).\n\
         ## Loaded at start over etc/emqx.conf; delete this file to use etc/emqx.conf's links.\n{}",
        links_to_hocon(links)
    );
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, &path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_links_load_back_identically() {
        let tmp = tempfile::Builder::new()
            .prefix("linkmq-persist-")
            .tempdir()
            .unwrap();
        // A data directory that does not exist yet, as on a node's first start.
        let dir = tmp.path().join("data");
        assert_eq!(load_links(&dir), Ok(None));
        let mut a = LinkConfig::new(
            "a",
            "mqtt://127.0.0.1:1884".parse().unwrap(),
            vec!["t/#".into()],
        );
        a.password = Some("p\"w".into());
        a.enable = false;
        let b = LinkConfig::new("b", "h:1".parse().unwrap(), vec![]);
        save_links(&dir, &[a.clone(), b.clone()]).unwrap();
        assert_eq!(load_links(&dir), Ok(Some(vec![a, b])));
        save_links(&dir, &[]).unwrap();
        assert_eq!(load_links(&dir), Ok(Some(vec![])));
    }
}
