//! Plugs the Cluster Linking manager into the REST API: [`LinkApi`] on top of [`LinkManager`].

use std::sync::Arc;

use linkmq_cluster_link::{LinkManager, LinkOpError};
use linkmq_config::{LinkConfig, LinkValidationError};
use linkmq_http_api::routes::cluster_links::{LinkApi, LinkApiError, LinkFuture};
use serde_json::{Value, json};

/// The manager as the API's [`LinkApi`].
pub fn adapter(manager: &Arc<LinkManager>) -> Arc<dyn LinkApi> {
    adapter_in(manager, None)
}

/// The manager of a node of a multi-node cluster: status and metrics cover every node.
pub fn adapter_in(
    manager: &Arc<LinkManager>,
    cluster: Option<Arc<linkmq_cluster::Cluster>>,
) -> Arc<dyn LinkApi> {
    Arc::new(Adapter(manager.clone(), cluster))
}

struct Adapter(Arc<LinkManager>, Option<Arc<linkmq_cluster::Cluster>>);

impl Adapter {
    /// Tells the other nodes of the cluster about a change made here.
    fn changed(&self) {
        if let Some(c) = &self.1 {
            crate::ext_router::replicate_links(c, &self.0);
        }
    }

    /// The link object, with every node's status when in a cluster.
    fn json(&self, l: &LinkConfig) -> Value {
        let mut v = self.0.link_json(l);
        if let Some(c) = &self.1 {
            crate::ext_router::aggregate_status(c, &mut v);
        }
        v
    }
}

/// EMQX's validation reasons: name errors as their message, redundant or duplicate topics as
/// `{"reason": "redundant_topics", "topics": [...]}`.
fn validation_reason(e: &LinkValidationError) -> Value {
    match e {
        LinkValidationError::RedundantTopics { topics } => {
            json!({"reason": "redundant_topics", "topics": topics})
        }
        LinkValidationError::DuplicateTopic { topic } => {
            json!({"reason": "redundant_topics", "topics": [topic]})
        }
        other => json!(other.to_string()),
    }
}

fn api_error(e: LinkOpError) -> LinkApiError {
    match e {
        LinkOpError::AlreadyExists => LinkApiError::AlreadyExists,
        LinkOpError::NotFound => LinkApiError::NotFound,
        LinkOpError::Invalid(v) => LinkApiError::Invalid(validation_reason(&v)),
        LinkOpError::Persist(m) => LinkApiError::Internal(m),
    }
}

impl LinkApi for Adapter {
    fn list(&self) -> Vec<Value> {
        self.0.links().iter().map(|l| self.json(l)).collect()
    }

    fn get(&self, name: &str) -> Option<Value> {
        self.0.link(name).map(|l| self.json(&l))
    }

    fn create(&self, link: LinkConfig) -> LinkFuture<'_, Result<Value, LinkApiError>> {
        Box::pin(async move {
            let l = self.0.create(link).await.map_err(api_error)?;
            self.changed();
            Ok(self.0.link_json(&l))
        })
    }

    fn update(&self, link: LinkConfig) -> LinkFuture<'_, Result<Value, LinkApiError>> {
        Box::pin(async move {
            let l = self.0.update(link).await.map_err(api_error)?;
            self.changed();
            Ok(self.0.link_json(&l))
        })
    }

    fn upsert(&self, link: LinkConfig) -> LinkFuture<'_, Result<(Value, bool), LinkApiError>> {
        Box::pin(async move {
            let (l, created) = self.0.upsert(link).await.map_err(api_error)?;
            self.changed();
            Ok((self.0.link_json(&l), created))
        })
    }

    fn replace_all(
        &self,
        links: Vec<LinkConfig>,
    ) -> LinkFuture<'_, Result<Vec<Value>, LinkApiError>> {
        Box::pin(async move {
            let ls = self.0.replace_all(links).await.map_err(api_error)?;
            self.changed();
            Ok(ls.iter().map(|l| self.0.link_json(l)).collect())
        })
    }

    fn delete(&self, name: &str) -> LinkFuture<'_, Result<(), LinkApiError>> {
        let name = name.to_string();
        Box::pin(async move {
            self.0.delete(&name).await.map_err(api_error)?;
            self.changed();
            Ok(())
        })
    }

    fn metrics(&self, name: &str) -> Option<Value> {
        let mut v = self.0.metrics_json(name)?;
        if let Some(c) = &self.1 {
            crate::ext_router::aggregate_metrics(c, name, &mut v);
        }
        Some(v)
    }

    fn reset_metrics(&self, name: &str) -> bool {
        self.0.reset_metrics(name)
    }

    fn prometheus(&self) -> String {
        self.0.prometheus()
    }
}
