//! Sweep: find every resource of the lab's kinds that carries a tag, and delete them in
//! dependency order, without any journal. What a teacher runs when the laptop with the state
//! directory is gone, or to clean up after runs nobody rolled back.
//!
//! What sweep knows of each kind (the order, how to list it by tag, which action's undo deletes
//! it) is that kind's entry in [`super::kinds`], with the selection ([`Select`]); this file walks
//! the table. Each resource is deleted by the undo of the action that creates its kind, so a
//! sweep deletes exactly as a rollback does (the caller retries what AWS refuses while it
//! releases network interfaces).

use super::client::Clients;
pub use super::kinds::{EXPIRES, Found, Select};
use super::kinds::{KINDS, Sweep};
use crate::engine::action::ActionError;

/// The kinds sweep deletes itself, in the order it deletes them.
pub fn order() -> impl Iterator<Item = super::kinds::ResourceKind> {
    KINDS
        .iter()
        .filter(|k| matches!(k.sweep, Sweep::Tagged { .. }))
        .map(|k| k.name)
}

/// Which kinds a look in one region lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The region's and the account's global ones (Route 53's): the first region looked in.
    WithGlobal,
    /// The region's only: every further region of the same account, whose global resources
    /// the first look listed.
    RegionOnly,
}

/// Everything `select` takes, in deletion order.
pub async fn find(c: &Clients, select: &Select, scope: Scope) -> Result<Vec<Found>, ActionError> {
    let mut found = Vec::new();
    for kind in KINDS {
        if kind.global && scope == Scope::RegionOnly {
            continue;
        }
        if let Sweep::Tagged { list, .. } = kind.sweep {
            found.extend(list(c, select).await?);
        }
    }
    Ok(found)
}

/// Whether a found resource is one of the account's (Route 53's), not a region's.
pub fn is_global(found: &Found) -> bool {
    super::kinds::find(found.kind.name()).is_some_and(|k| k.global)
}

/// The action whose undo deletes a resource of this kind, and what that undo needs besides the
/// id (an internet gateway's VPC, to detach it first).
pub async fn undo_of(
    c: &Clients,
    r: &Found,
) -> Result<(&'static str, serde_json::Value), ActionError> {
    let Some(Sweep::Tagged {
        deleted_by,
        prepare,
        ..
    }) = super::kinds::find(r.kind.name()).map(|k| k.sweep)
    else {
        return Err(ActionError::new(format!(
            "sweep does not know how to delete a {}",
            r.kind
        )));
    };
    let undo = match prepare {
        Some(prepare) => prepare(c, r).await?,
        None => serde_json::Value::Null,
    };
    Ok((deleted_by, undo))
}

/// A rollback's last look: what still carries the run's tag (`runbook:run`), in every kind sweep
/// knows. A resource deleted moments ago may still be listed for a little while: what is found
/// is looked for again after a few seconds, and only what is still there is reported.
impl crate::engine::rollback::Leftovers for Clients {
    fn find<'a>(
        &'a self,
        run_id: &'a str,
        elsewhere: &'a [String],
    ) -> crate::engine::action::BoxFuture<
        'a,
        Result<Vec<crate::engine::action::Resource>, ActionError>,
    > {
        Box::pin(async move {
            let select = Select::Tag(super::tags::RUN.to_owned(), run_id.to_owned());
            let mut places = vec![self];
            places.extend(
                elsewhere
                    .iter()
                    .filter(|r| **r != self.region)
                    .map(|r| self.in_region(r)),
            );
            let scope = |i: usize| {
                if i == 0 {
                    Scope::WithGlobal
                } else {
                    Scope::RegionOnly
                }
            };
            let mut first = Vec::new();
            for (i, c) in places.iter().enumerate() {
                first.extend(find(c, &select, scope(i)).await?);
            }
            if first.is_empty() {
                return Ok(Vec::new());
            }
            tokio::time::sleep(std::time::Duration::from_secs(3)).await;
            let mut left = Vec::new();
            for (i, c) in places.iter().enumerate() {
                let region = (c.region != self.region).then(|| c.region.clone());
                for f in find(c, &select, scope(i)).await? {
                    if first.iter().any(|g| g.id == f.id) {
                        left.push(crate::engine::action::Resource {
                            kind: f.kind.into(),
                            id: f.id,
                            undo: serde_json::Value::Null,
                            changed: Vec::new(),
                            region: region.clone(),
                        });
                    }
                }
            }
            Ok(left)
        })
    }
}
