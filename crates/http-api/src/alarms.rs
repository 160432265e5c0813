//! Node alarms as EMQX lists them (`/api/v5/alarms`): an alarm is activated once by name, and
//! moves to the history when deactivated. Other parts of the node raise them through
//! [`ApiState::alarms`](crate::ApiState::alarms).

use std::sync::Mutex;

use serde_json::{Value, json};

/// One alarm.
#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    pub name: String,
    pub message: String,
    pub details: Value,
    /// Milliseconds since the epoch.
    pub activate_at: u64,
    pub deactivate_at: Option<u64>,
}

/// Active alarms and the history of deactivated ones (bounded).
#[derive(Debug, Default)]
pub struct Alarms {
    inner: Mutex<(Vec<Alarm>, Vec<Alarm>)>,
}

/// How many deactivated alarms are kept.
const MAX_HISTORY: usize = 1000;

impl Alarms {
    /// Raises `name` (no-op when already active).
    pub fn activate(&self, name: &str, message: &str, details: Value) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if g.0.iter().any(|a| a.name == name) {
            return;
        }
        g.0.push(Alarm {
            name: name.to_string(),
            message: message.to_string(),
            details,
            activate_at: linkmq_core::message::now_ms(),
            deactivate_at: None,
        });
    }

    /// Clears `name`; returns whether it was active.
    pub fn deactivate(&self, name: &str) -> bool {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Some(i) = g.0.iter().position(|a| a.name == name) else {
            return false;
        };
        let mut a = g.0.remove(i);
        a.deactivate_at = Some(linkmq_core::message::now_ms());
        g.1.push(a);
        if g.1.len() > MAX_HISTORY {
            g.1.remove(0);
        }
        true
    }

    /// Active (`true`) or deactivated (`false`) alarms, oldest first.
    pub fn list(&self, activated: bool) -> Vec<Alarm> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if activated { g.0.clone() } else { g.1.clone() }
    }

    /// Forgets the deactivated alarms (`DELETE /alarms`).
    pub fn clear_history(&self) {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clear();
    }
}

impl Alarm {
    /// The EMQX JSON shape.
    pub fn view(&self, node: &str) -> Value {
        let now = linkmq_core::message::now_ms();
        let mut v = json!({
            "node": node,
            "name": self.name,
            "message": self.message,
            "details": self.details,
            "duration": self.deactivate_at.unwrap_or(now).saturating_sub(self.activate_at),
            "activate_at": crate::time::rfc3339_ms(self.activate_at),
        });
        if let Some(d) = self.deactivate_at {
            v["deactivate_at"] = crate::time::rfc3339_ms(d).into();
        }
        v
    }
}
