//! `MeteredModel`: any [`ChatModel`] with its time to the first token and the text it streams
//! counted for `/metrics`. The agent loop does not know it is measured.

use std::{sync::Arc, time::Instant};

use futures::{FutureExt as _, StreamExt as _, future::BoxFuture};

use super::model::{ChatModel, ModelDelta, ModelError, ModelRequest, ModelStream};
use crate::metrics::Metrics;

/// A model whose replies are measured.
pub struct MeteredModel {
    inner: Arc<dyn ChatModel>,
    metrics: Arc<Metrics>,
}

impl MeteredModel {
    pub fn new(inner: Arc<dyn ChatModel>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }
}

impl ChatModel for MeteredModel {
    fn start<'a>(
        &'a self,
        request: ModelRequest<'a>,
    ) -> BoxFuture<'a, Result<ModelStream, ModelError>> {
        async move {
            // From the request, retries included: the wait a user sees.
            let mut waiting_since = Some(Instant::now());
            let stream = self.inner.start(request).await?;
            let metrics = self.metrics.clone();
            let measured = stream.inspect(move |delta| {
                let Ok(delta) = delta else { return };
                match delta {
                    ModelDelta::Finish(_) => return,
                    ModelDelta::Usage(usage) => {
                        return metrics.model_usage(usage.prompt, usage.completion);
                    }
                    ModelDelta::Text(_) | ModelDelta::ToolCall(_) => {}
                }
                if let Some(since) = waiting_since.take() {
                    metrics.model_first_token(since.elapsed());
                }
                if matches!(delta, ModelDelta::Text(_)) {
                    metrics.token_streamed();
                }
            });
            Ok(measured.boxed())
        }
        .boxed()
    }
}
