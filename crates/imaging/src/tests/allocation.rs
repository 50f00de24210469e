//! Measuring the most memory a piece of code holds at once, to show that a refused picture's
//! claimed size was never allocated. Counted per thread, so tests running side by side do not
//! add up.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    // Const-initialised Cells need no destructor, so the allocator may use them at any time.
    // Signed: memory allocated on another thread may be freed on this one.
    static HELD: Cell<i64> = const { Cell::new(0) };
    static PEAK: Cell<i64> = const { Cell::new(0) };
}

fn change_held(bytes: i64) {
    // During thread teardown the slots may be gone; those allocations are nobody's test.
    let _ = HELD.try_with(|held| {
        let now = held.get() + bytes;
        held.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn size(bytes: usize) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

struct CountingAllocator;

// SAFETY: every call is passed unchanged to the system allocator; counting only reads sizes.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        change_held(size(layout.size()));
        // SAFETY: the caller's guarantees for `alloc` are passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        change_held(size(layout.size()));
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        change_held(size(new_size) - size(layout.size()));
        // SAFETY: as for `alloc`; `ptr` came from this allocator, that is from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        change_held(-size(layout.size()));
        // SAFETY: as for `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING_ALLOCATOR: CountingAllocator = CountingAllocator;

/// Runs `work` and returns its result with the most bytes it held at once on this thread,
/// beyond what the thread held before.
pub fn peak_bytes_held_by<T>(work: impl FnOnce() -> T) -> (T, u64) {
    let before = HELD.with(Cell::get);
    PEAK.with(|peak| peak.set(before));
    let result = work();
    let peak = PEAK.with(Cell::get);
    (result, u64::try_from(peak - before).unwrap_or(0))
}

#[test]
fn the_counter_sees_what_is_held_at_once() {
    let (held, peak) = peak_bytes_held_by(|| {
        let first = vec![7u8; 10_000_000];
        drop(first);
        let second = vec![7u8; 4_000_000];
        second.len()
    });
    assert_eq!(held, 4_000_000);
    assert!((10_000_000..11_000_000).contains(&peak), "{peak}");
}
