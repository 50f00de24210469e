//! Lists that would otherwise pile every movie under one partition key are spread over
//! [`SHARDS`] partitions and merged on read. The cursor of a merged page is the last sort
//! key returned: sort keys end in the entity id, so they are unique across shards and
//! "after this key" means the same thing in every shard.

use domain::ids::shard_of;
use store::{Item, Query, Store, StoreError};
use uuid::Uuid;

/// Partitions per sharded list.
pub const SHARDS: u32 = 4;

/// The partition key of `id`'s shard of the list `base`.
pub fn partition(base: &str, id: &Uuid) -> String {
    format!("{base}#{}", shard_of(id, SHARDS))
}

/// One merged page of the sharded list `base`, in sort-key order (descending when asked),
/// of the sort keys starting with `sk_prefix`, after `after`; returns the items and, when
/// more remain, the cursor key.
pub async fn merged_page(
    store: &dyn Store,
    base: &str,
    sk_prefix: &str,
    descending: bool,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<Item>, Option<String>), StoreError> {
    let reads = (0..SHARDS).map(|shard| {
        let mut query = Query::prefix(format!("{base}#{shard}"), sk_prefix, limit)
            .after(after.map(str::to_owned));
        query.descending = descending;
        async move { store.query(&query).await }
    });
    let pages = futures::future::try_join_all(reads).await?;
    let any_shard_has_more = pages.iter().any(|p| p.more);
    let mut items: Vec<Item> = pages.into_iter().flat_map(|p| p.items).collect();
    items.sort_by(|a, b| {
        if descending {
            b.key.sk.cmp(&a.key.sk)
        } else {
            a.key.sk.cmp(&b.key.sk)
        }
    });
    let more = any_shard_has_more || items.len() > limit;
    items.truncate(limit);
    let cursor = if more {
        items.last().map(|i| i.key.sk.clone())
    } else {
        None
    };
    Ok((items, cursor))
}

/// How many items one read of [`every_item`] asks for.
const EVERY_ITEM_PAGE: usize = 1000;

/// Every item of the sharded list `base`, shard after shard, in no particular order: for
/// what is rebuilt from a whole list (the search indexes), where a merged order would cost
/// reads for nothing.
pub async fn every_item(store: &dyn Store, base: &str) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    for shard in 0..SHARDS {
        let mut after = None;
        loop {
            let query = Query::prefix(format!("{base}#{shard}"), "", EVERY_ITEM_PAGE).after(after);
            let page = store.query(&query).await?;
            after = page.items.last().map(|item| item.key.sk.clone());
            items.extend(page.items);
            if !page.more {
                break;
            }
        }
    }
    Ok(items)
}
