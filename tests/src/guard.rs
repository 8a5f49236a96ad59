//! Host arrays that end on an inaccessible page, so a plugin that reads or
//! writes one element past what the host passed faults at once instead of
//! quietly touching the host's heap.

use std::ptr;

/// `len` values of `T` placed so the last one ends exactly where a
/// `PROT_NONE` guard page begins: the first access past the end raises
/// SIGSEGV (the test binary dies with it, which fails the run).
pub struct Guarded<T: Copy> {
    /// Start of the whole mapping (data pages, then the guard page).
    map: *mut u8,
    /// Bytes mapped, guard page included.
    map_len: usize,
    /// First element; `len` elements up to the guard page.
    first: *mut T,
    len: usize,
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    assert!(size > 0, "page size");
    size as usize
}

impl<T: Copy> Guarded<T> {
    /// A copy of `values` in guard-paged memory.
    pub fn new(values: &[T]) -> Self {
        let page = page_size();
        let bytes = std::mem::size_of_val(values);
        let data_len = bytes.div_ceil(page).max(1) * page;
        let map_len = data_len + page;
        // SAFETY: an anonymous private mapping with no address hint; the
        // result is checked before use.
        let map = unsafe { libc::mmap(ptr::null_mut(), map_len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0) };
        assert_ne!(map, libc::MAP_FAILED, "mmap of {map_len} bytes");
        let map = map as *mut u8;
        // SAFETY: the last page lies inside the mapping just made.
        let protected = unsafe { libc::mprotect(map.add(data_len) as *mut libc::c_void, page, libc::PROT_NONE) };
        assert_eq!(protected, 0, "mprotect of the guard page");
        // The guard page starts page-aligned and `bytes` is a multiple of
        // T's alignment (array stride), so `first` is aligned for T.
        // SAFETY: data_len ≥ bytes, so `first` is inside the data pages.
        let first = unsafe { map.add(data_len - bytes) } as *mut T;
        // SAFETY: `first..first + len` is writable, aligned and unaliased.
        unsafe { ptr::copy_nonoverlapping(values.as_ptr(), first, values.len()) };
        Guarded { map, map_len, first, len: values.len() }
    }

    /// The first element (for an empty array: the guard page itself).
    pub fn as_ptr(&self) -> *mut T {
        self.first
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn as_slice(&self) -> &[T] {
        // SAFETY: `len` initialised elements owned by self.
        unsafe { std::slice::from_raw_parts(self.first, self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: `len` initialised elements owned by self, borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(self.first, self.len) }
    }
}

impl<T: Copy> Drop for Guarded<T> {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.map as *mut libc::c_void, self.map_len) };
    }
}

// SAFETY: Guarded owns its mapping exclusively, like a Box<[T]>.
unsafe impl<T: Copy + Send> Send for Guarded<T> {}

/// A stereo channel pair in guard-paged memory: each channel's samples end
/// on a guard page, and so does the two-entry array of channel pointers a
/// host hands the plugin.
pub struct GuardedStereo {
    pub channels: [Guarded<f32>; 2],
    /// `[left, right]` pointers into `channels`.
    pub pointers: Guarded<*mut f32>,
}

impl GuardedStereo {
    /// `frames` samples per channel, every one `fill`.
    pub fn new(frames: usize, fill: f32) -> Self {
        let channels = [Guarded::new(&vec![fill; frames]), Guarded::new(&vec![fill; frames])];
        let pointers = Guarded::new(&[channels[0].as_ptr(), channels[1].as_ptr()]);
        GuardedStereo { channels, pointers }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_end_on_the_page_boundary() {
        let g = Guarded::new(&[1u64, 2, 3]);
        assert_eq!(g.as_slice(), &[1, 2, 3]);
        let end = g.as_ptr() as usize + 3 * 8;
        assert_eq!(end % page_size(), 0, "the next byte is the guard page's first");
    }

    /// The guard really faults: a child process reads one element past the
    /// end and must die of SIGSEGV (reading the last element must not).
    #[test]
    fn reading_one_past_the_end_faults() {
        let g = Guarded::new(&[1.0f32, 2.0]);
        for (index, faults) in [(1, false), (2, true)] {
            // SAFETY: the child only reads memory and exits; it touches no
            // lock or allocator another thread could hold.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0, "fork");
            if pid == 0 {
                // SAFETY: index 1 is in bounds; index 2 is the guard page,
                // whose read is the point of the test.
                let v = unsafe { std::ptr::read_volatile(g.as_ptr().add(index)) };
                unsafe { libc::_exit(if v == 2.0 { 0 } else { 1 }) };
            }
            let mut status = 0;
            // SAFETY: waiting for our own child.
            assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
            if faults {
                assert!(libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGSEGV, "index {index}: status {status}");
            } else {
                assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "index {index}: status {status}");
            }
        }
    }
}
