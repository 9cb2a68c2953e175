//! SQLite's memory from Rust's global allocator (mimalloc in the gateway), instead of the C
//! library's `malloc`.
//!
//! SQLx copies every value of every row it reads from SQLite (`sqlite3_value_dup`), and SQLite
//! allocates each copy, and much else, through its memory methods: glibc's `malloc` and `free`
//! by default. For the nested query of the peer bench that was about a thousand allocations a
//! request and a tenth of the server's instructions (`bench/rounds/count.sh instructions`,
//! docs/BENCHMARKS.md). [`use_global_allocator`] gives SQLite the process's own allocator.
use std::alloc::{self, Layout};
use std::ffi::{c_int, c_void};
use std::ptr;

use libsqlite3_sys as ffi;

/// The bytes before each block given to SQLite: its size, as SQLite's own allocator keeps it
/// (`xSize` must answer it). Eight, so that the block keeps the alignment SQLite asks (8).
const HEADER: usize = 8;

/// Why SQLite's memory could not be changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlreadyInitialized(pub c_int);

impl std::fmt::Display for AlreadyInitialized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SQLite was already in use (its memory can only be set before: code {})",
            self.0
        )
    }
}

impl std::error::Error for AlreadyInitialized {}

/// Gives SQLite the process's global allocator for all its memory. Must come before SQLite is
/// first used in the process (before any connection opens): after, SQLite refuses and keeps
/// its memory as it is.
///
/// # Errors
/// SQLite is already in use in this process.
pub fn use_global_allocator() -> Result<(), AlreadyInitialized> {
    let methods = ffi::sqlite3_mem_methods {
        xMalloc: Some(malloc),
        xFree: Some(free),
        xRealloc: Some(realloc),
        xSize: Some(size),
        xRoundup: Some(roundup),
        xInit: Some(init),
        xShutdown: Some(shutdown),
        pAppData: ptr::null_mut(),
    };
    // SAFETY: `sqlite3_config` takes, for SQLITE_CONFIG_MALLOC, a pointer to a
    // `sqlite3_mem_methods`, which it copies (the local may go); once SQLite is initialized it
    // changes nothing and answers SQLITE_MISUSE. The methods below keep SQLite's contract:
    // blocks aligned to 8, `xSize` their size, NULL on failure.
    let code = unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_MALLOC, &raw const methods) };
    if code != ffi::SQLITE_OK {
        return Err(AlreadyInitialized(code));
    }
    Ok(())
}

/// The layout of a block of `size` bytes for SQLite, with its header; `None` past what a
/// layout can hold.
fn layout(size: usize) -> Option<Layout> {
    Layout::from_size_align(size.checked_add(HEADER)?, HEADER).ok()
}

/// Writes `size` in the header at `base` and gives the block after it (NULL for NULL).
///
/// # Safety
/// `base` is NULL or the start of a block of at least `HEADER` bytes, aligned to 8.
unsafe fn with_header(base: *mut u8, size: usize) -> *mut c_void {
    if base.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: the block starts with HEADER bytes aligned to 8 (the caller's promise).
    unsafe {
        base.cast::<usize>().write(size);
        base.add(HEADER).cast()
    }
}

/// The start of the block SQLite holds at `block`, and the size of it SQLite asked for.
///
/// # Safety
/// `block` is a non-NULL pointer [`malloc`] or [`realloc`] gave and not yet freed.
unsafe fn header(block: *mut c_void) -> (*mut u8, usize) {
    // SAFETY: such a block follows its header in the same allocation.
    unsafe {
        let base = block.cast::<u8>().sub(HEADER);
        (base, base.cast::<usize>().read())
    }
}

unsafe extern "C" fn malloc(size: c_int) -> *mut c_void {
    let Some(layout) = usize::try_from(size).ok().and_then(layout) else {
        return ptr::null_mut();
    };
    // SAFETY: the layout is never zero-sized (the header); the block it gives, if any, is
    // aligned to 8 and at least HEADER long.
    unsafe { with_header(alloc::alloc(layout), layout.size() - HEADER) }
}

unsafe extern "C" fn free(block: *mut c_void) {
    if block.is_null() {
        return;
    }
    // SAFETY: SQLite frees only what its `xMalloc` or `xRealloc` gave (this module's), once;
    // the header holds the size it was allocated with, so the layout is the same.
    unsafe {
        let (base, size) = header(block);
        if let Some(layout) = layout(size) {
            alloc::dealloc(base, layout);
        }
    }
}

unsafe extern "C" fn realloc(block: *mut c_void, size: c_int) -> *mut c_void {
    if block.is_null() {
        // SAFETY: as `malloc`.
        return unsafe { malloc(size) };
    }
    let Some(new) = usize::try_from(size).ok().and_then(layout) else {
        return ptr::null_mut();
    };
    // SAFETY: `block` is one of this module's (SQLite's contract), allocated with the layout
    // its header gives; the new size is not zero and fits a layout of the same alignment.
    // On failure the old block stays as it was, as SQLite expects.
    unsafe {
        let (base, old) = header(block);
        let Some(old) = layout(old) else {
            return ptr::null_mut();
        };
        with_header(alloc::realloc(base, old, new.size()), new.size() - HEADER)
    }
}

unsafe extern "C" fn size(block: *mut c_void) -> c_int {
    if block.is_null() {
        return 0;
    }
    // SAFETY: `block` is one of this module's (SQLite's contract).
    let (_, size) = unsafe { header(block) };
    c_int::try_from(size).unwrap_or(c_int::MAX)
}

unsafe extern "C" fn roundup(size: c_int) -> c_int {
    size.saturating_add(7) & !7
}

unsafe extern "C" fn init(_: *mut c_void) -> c_int {
    ffi::SQLITE_OK
}

unsafe extern "C" fn shutdown(_: *mut c_void) {}
