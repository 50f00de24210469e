//! Measures the title index (`projector::search`) on synthetic catalogues of 1,000 and
//! 100,000 titles: the time of one search page for a word every title shares, a rare word,
//! two words, an exact title, and a page deep in the common word's list; the time to rebuild
//! it from the store; and the heap bytes per indexed title. Run with `cargo run --release -p projector --example search_bench`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use std::sync::Arc;

use bus::Outcome;
use domain::events::{Envelope, Event, MovieSnapshot};
use projector::search::{MovieSearch, SearchCursor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use store::Store;

/// The system allocator, counting the bytes in use, to weigh the index.
struct Counting;

static IN_USE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        IN_USE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        IN_USE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const LIMIT: usize = 20;

/// Titles like "The Moravi Kelstan 12": "the" in each, words drawn from a vocabulary with a
/// skew (a few common, most rare), a number in some, "zyzzyva" in exactly three.
fn titles(count: usize) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(1);
    let syllables = [
        "ka", "lo", "mi", "ra", "ven", "sto", "del", "qui", "ber", "on", "tra", "ul",
    ];
    let vocabulary: Vec<String> = (0..5000)
        .map(|_| {
            let len = rng.random_range(2..=4);
            (0..len)
                .map(|_| syllables[rng.random_range(0..syllables.len())])
                .collect()
        })
        .collect();
    (0..count)
        .map(|i| {
            let mut title = String::from("The");
            for _ in 0..rng.random_range(1..=4) {
                // Cubing skews the draw towards the first words of the vocabulary.
                let at = (rng.random::<f64>().powi(3) * vocabulary.len() as f64) as usize;
                title.push(' ');
                title.push_str(&vocabulary[at]);
            }
            if i % 3 == 0 {
                title.push_str(&format!(" {}", i % 100));
            }
            if i % (count / 3) == 1 {
                title.push_str(" Zyzzyva");
            }
            title
        })
        .collect()
}

fn created(title: &str) -> Envelope {
    Envelope::new(Event::MovieCreated(MovieSnapshot {
        movie_id: domain::ids::new_id(),
        title: title.to_owned(),
        release_year: 2000,
        genres: vec!["drama".into()],
        thumbnail_url: None,
        created_at: 0,
        cast: Vec::new(),
        poster: None,
    }))
}

/// Microseconds per call of `search`, over enough calls to take about 0.3 s.
fn time(mut search: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed().as_millis() < 300 {
        search();
        calls += 1;
    }
    start.elapsed().as_secs_f64() * 1e6 / calls as f64
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    for count in [1_000, 100_000] {
        let titles = titles(count);
        // The titles are listed in a store by the catalog projection, as in a deployment,
        // and the index is built from the store as a process does when it starts.
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(store_sqlite::SqliteStore::open(&dir.path().join("store.db")).unwrap());
        let catalog =
            projector::subscriptions(store.clone(), platform::consumer::DEFAULT_MARKER_RETENTION)
                .into_iter()
                .find(|s| s.consumer == "catalog")
                .unwrap();
        for title in &titles {
            assert_eq!(catalog.handler.handle(&created(title)).await, Outcome::Done);
        }
        let index = MovieSearch::default();
        let before = IN_USE.load(Ordering::Relaxed);
        let started = Instant::now();
        index.rebuild_from(store.as_ref()).await.unwrap();
        let rebuild_ms = started.elapsed().as_secs_f64() * 1e3;
        let bytes = IN_USE.load(Ordering::Relaxed) - before;
        println!(
            "{count} titles: rebuilt from SQLite in {rebuild_ms:.0} ms, {} heap bytes per title",
            bytes / count as isize
        );
        let exact = titles[count / 2].clone();
        let mut deep: Option<SearchCursor> = None;
        for _ in 0..10 {
            deep = index.page("the", deep.as_ref(), LIMIT).unwrap().next;
        }
        for (name, query, cursor) in [
            ("a word every title shares (\"the\")", "the", None),
            ("the same, 11th page", "the", deep.clone()),
            ("a rare word (\"zyzzyva\", 3 titles)", "zyzzyva", None),
            ("a prefix of common words (\"ka\")", "ka", None),
            ("two words (\"the ka\")", "the ka", None),
            ("an exact title", exact.as_str(), None),
        ] {
            let found = index
                .page(query, cursor.as_ref(), LIMIT)
                .unwrap()
                .found
                .len();
            let micros = time(|| {
                black_box(index.page(query, cursor.as_ref(), LIMIT).unwrap());
            });
            println!("  {name:42} {micros:8.2} µs ({found} on the page)");
        }
    }
}
