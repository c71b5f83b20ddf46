//! A durable bulk-write job: the items, their idempotency keys and the outcome of each,
//! persisted to a JSON file after every settled batch, so a killed process resumes
//! where it stopped and, by reconciling the job's reference prefix, writes every
//! document exactly once.

use crate::connection::SlConn;
use crate::write::{self, WriteOptions};
use connector_core::{ConnectorError, ItemOutcome, WriteItem};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkJob {
    /// Every idempotency key starts with `<job_id>-`, which is how a resume finds
    /// what an interrupted run already wrote.
    pub job_id: String,
    pub object: String,
    pub items: Vec<WriteItem>,
    #[serde(default)]
    pub outcomes: BTreeMap<String, ItemOutcome>,
    /// Set once a run has started: a later run must reconcile before sending.
    #[serde(default)]
    pub started: bool,
}

impl BulkJob {
    pub fn load(path: &Path) -> Result<BulkJob, ConnectorError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConnectorError::invalid_input(format!("job file {}: {e}", path.display()))
        })?;
        let job: BulkJob = serde_json::from_str(&text).map_err(|e| {
            ConnectorError::invalid_input(format!("job file {}: {e}", path.display()))
        })?;
        let prefix = format!("{}-", job.job_id);
        if let Some(bad) = job
            .items
            .iter()
            .find(|i| !i.idempotency_key.starts_with(&prefix))
        {
            return Err(ConnectorError::invalid_input(format!(
                "job file {}: item key '{}' does not start with '{prefix}'",
                path.display(),
                bad.idempotency_key
            )));
        }
        Ok(job)
    }

    /// Writes the file atomically (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<(), ConnectorError> {
        let tmp = path.with_extension("tmp");
        let text =
            serde_json::to_vec(self).map_err(|e| ConnectorError::invalid_input(e.to_string()))?;
        std::fs::write(&tmp, text)
            .and_then(|_| std::fs::rename(&tmp, path))
            .map_err(|e| {
                ConnectorError::invalid_input(format!("saving job {}: {e}", path.display()))
            })
    }

    /// Runs (or resumes) the job to the end.
    pub async fn run(
        &mut self,
        conn: &Arc<SlConn>,
        path: &Path,
        opts: WriteOptions,
    ) -> Result<(), ConnectorError> {
        if self.started {
            let found =
                write::reconcile_prefix(conn, &self.object, &format!("{}-", self.job_id)).await?;
            for (k, o) in found {
                self.outcomes.entry(k).or_insert(o);
            }
        }
        self.started = true;
        self.save(path)?;
        let known: Vec<Option<ItemOutcome>> = self
            .items
            .iter()
            .map(|i| self.outcomes.get(&i.idempotency_key).cloned())
            .collect();
        let items = self.items.clone();
        let mut outcomes = self.outcomes.clone();
        let mut last_err = None;
        let result = {
            let mut progress = |settled: &[(usize, ItemOutcome)]| {
                for (i, o) in settled {
                    outcomes.insert(items[*i].idempotency_key.clone(), o.clone());
                }
                let snapshot = BulkJob {
                    job_id: self.job_id.clone(),
                    object: self.object.clone(),
                    items: Vec::new(),
                    outcomes: outcomes.clone(),
                    started: true,
                };
                if let Err(e) = save_outcomes(path, &snapshot, &items) {
                    last_err = Some(e);
                }
            };
            write::write_all(conn, &self.object, &items, known, opts, &mut progress).await
        };
        let final_outcomes = result?;
        for (item, o) in items.iter().zip(final_outcomes) {
            self.outcomes.insert(item.idempotency_key.clone(), o);
        }
        self.save(path)?;
        match last_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

fn save_outcomes(
    path: &Path,
    snapshot: &BulkJob,
    items: &[WriteItem],
) -> Result<(), ConnectorError> {
    let job = BulkJob {
        items: items.to_vec(),
        ..snapshot.clone()
    };
    job.save(path)
}
