//! `moviebook verify [--repair]`: recomputes every derived view from the records that own
//! the data and reports each difference; with `--repair`, puts each right. It takes the same
//! settings as `serve` and works on either store, beside a running server.
//!
//! The store is read whole (a scan), twice, `settle` apart: a difference seen only once was
//! an event on its way (a review written, its projection a moment behind), and only the
//! differences seen both times, alike, are reported. Every repair is one transaction,
//! conditional on what it changes being as the second scan read it (see
//! `platform::audit`): one that meets a write made meanwhile changes nothing, and is found
//! again by the next round. A running process's cache of ready answers may show what it held
//! before a repair for its time to live.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::bail;
use platform::audit::{Finding, Records, Stored};
use store::{Store, StoreError};

use crate::config::{Config, StoreKind};
use crate::data_dir;

/// How many times `--repair` repairs what it finds before it gives up.
const REPAIR_ROUNDS: usize = 3;

/// Every difference between the derived views and the records in one scan of the store.
pub async fn audit(store: &dyn Store) -> Result<Vec<Finding>, StoreError> {
    let stored = Stored::new(store::every_item(store).await?);
    let mut records = Records::default();
    let mut findings = movies::audit::read_records(&stored, &mut records);
    findings.extend(actors::audit::read_records(&stored, &mut records));
    findings.extend(users::audit::read_records(&stored, &mut records));
    findings.extend(movies::audit::check(&records, &stored)?);
    findings.extend(users::audit::check(&records, &stored)?);
    findings.extend(projector::audit::check(&records, &stored)?);
    Ok(findings)
}

/// The differences that stay: those of a scan that an earlier scan, `settle` before, found
/// alike.
pub async fn lasting_differences(
    store: &dyn Store,
    settle: Duration,
) -> Result<Vec<Finding>, StoreError> {
    let first = audit(store).await?;
    if first.is_empty() {
        return Ok(first);
    }
    tokio::time::sleep(settle).await;
    // A finding's repair names new event ids and the time; what it found is its identity.
    let seen: HashSet<String> = first.iter().map(ToString::to_string).collect();
    let second = audit(store).await?;
    Ok(second
        .into_iter()
        .filter(|finding| seen.contains(&finding.to_string()))
        .collect())
}

/// What one round of repairs did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Repairs {
    pub repaired: usize,
    /// Its item changed after the scan: left to the next round.
    pub overtaken: usize,
    /// Nothing verify can do (an owning record that does not decode).
    pub unrepairable: usize,
}

/// Applies each finding's repair.
pub async fn repair(store: &dyn Store, findings: &[Finding]) -> Result<Repairs, StoreError> {
    let mut repairs = Repairs::default();
    for finding in findings {
        if finding.repair.is_empty() {
            repairs.unrepairable += 1;
            continue;
        }
        match store.transact(finding.repair.clone()).await {
            Ok(()) => repairs.repaired += 1,
            Err(StoreError::ConditionFailed { .. }) => repairs.overtaken += 1,
            Err(other) => return Err(other),
        }
    }
    Ok(repairs)
}

/// `moviebook verify` on the store `config` names; true when the views agree with the
/// records at the end.
pub async fn command(config: &Config, repair_them: bool, settle: Duration) -> anyhow::Result<bool> {
    let database = config.data_dir.join(data_dir::DATABASE);
    // Opening a missing database would create an empty one, which agrees with nothing.
    if config.store == StoreKind::Sqlite && !database.exists() {
        bail!(
            "{} holds no MovieBook store ({} is missing)",
            config.data_dir.display(),
            data_dir::DATABASE
        );
    }
    let (store, _) = crate::app::open_store(config).await?;
    run(store.as_ref(), repair_them, settle).await
}

/// Runs the command: prints every lasting difference and, with `repair`, repairs them in
/// rounds until none is left. True when the views agree with the records at the end.
pub async fn run(store: &dyn Store, repair_them: bool, settle: Duration) -> anyhow::Result<bool> {
    let rounds = if repair_them { REPAIR_ROUNDS } else { 0 };
    for round in 0..=rounds {
        let findings = lasting_differences(store, settle).await?;
        let differences: usize = findings.iter().map(|f| f.differences.len()).sum();
        if findings.is_empty() {
            println!("verify: every derived view agrees with the records");
            return Ok(true);
        }
        for finding in &findings {
            println!("{finding}");
        }
        println!("verify: {differences} differences");
        if round == rounds {
            break;
        }
        let done = repair(store, &findings).await?;
        println!(
            "verify: repaired {} ({} changed meanwhile, {} cannot be repaired by verify)",
            done.repaired, done.overtaken, done.unrepairable
        );
        if done.repaired == 0 && done.overtaken == 0 {
            break;
        }
    }
    Ok(false)
}
