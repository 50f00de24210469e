//! Counting what a piece of code allocates, to show that a refused picture's claimed size was
//! never allocated. Counted per thread, so tests running side by side do not add up.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    // A const-initialised Cell needs no destructor, so the allocator may use it at any time.
    static ALLOCATED: Cell<u64> = const { Cell::new(0) };
}

fn count(bytes: usize) {
    // During thread teardown the slot may be gone; those allocations are nobody's test.
    let _ = ALLOCATED.try_with(|allocated| allocated.set(allocated.get() + bytes as u64));
}

struct CountingAllocator;

// SAFETY: every call is passed unchanged to the system allocator; counting only reads sizes.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller's guarantees for `alloc` are passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: as for `alloc`; `ptr` came from this allocator, that is from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING_ALLOCATOR: CountingAllocator = CountingAllocator;

/// Runs `work` and returns its result with the bytes it allocated in total on this thread.
pub fn bytes_allocated_by<T>(work: impl FnOnce() -> T) -> (T, u64) {
    let before = ALLOCATED.with(Cell::get);
    let result = work();
    (result, ALLOCATED.with(Cell::get) - before)
}

#[test]
fn the_counter_sees_what_is_allocated() {
    let (buffer, allocated) = bytes_allocated_by(|| vec![7u8; 10_000_000]);
    assert_eq!(buffer.len(), 10_000_000);
    assert!(allocated >= 10_000_000, "{allocated}");
}
