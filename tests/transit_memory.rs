//! Heap used per transit tunnel, measured with a counting global allocator (test code only):
//! 10 000 hops of each role inserted into a shard's `HashMap<TunnelId, Hop>`.
//! Run with `--nocapture` to see the figures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicIsize, Ordering};

use floodgate::tunnel::HopRole;
use floodgate::tunnel::build::LayerKeys;
use floodgate::tunnel::shard::Hop;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static A: Counting = Counting;

const N: u32 = 10_000;

fn measure(role: HopRole) -> f64 {
    let keys = LayerKeys {
        layer_key: [1; 32],
        iv_key: [2; 32],
    };
    let before = LIVE.load(Ordering::Relaxed);
    let mut map: HashMap<u32, Hop> = HashMap::new();
    for tid in 1..=N {
        map.insert(
            tid,
            Hop::new(role, &keys, [3; 32], tid + 1, Some([4; 32]), 600_000),
        );
    }
    let after = LIVE.load(Ordering::Relaxed);
    let per = (after - before) as f64 / f64::from(N);
    drop(map);
    per
}

#[test]
fn heap_per_transit_tunnel() {
    // Single test in this binary, so no other test allocates concurrently.
    let hop = std::mem::size_of::<Hop>();
    let mut report = format!(
        "size_of::<Hop>() = {hop} bytes, size_of::<LayerCipher>() = {} bytes\n",
        std::mem::size_of::<floodgate::tunnel::layer::LayerCipher>()
    );
    for role in HopRole::ALL {
        let per = measure(role);
        report += &format!(
            "{:>12}: {per:.0} bytes per tunnel (map included)\n",
            role.label()
        );
        // Two expanded AES-256 key schedules dominate (2 x 240 bytes with AES-NI, 2 x 960 with
        // the portable `aes` crate path); more would mean per-tunnel buffers crept in.
        let bound =
            if floodgate::tunnel::layer::LayerCipher::new(&[0; 32], &[0; 32]).is_accelerated() {
                1024.0
            } else {
                2560.0
            };
        assert!(per < bound, "{}: {per} bytes per tunnel", role.label());
        assert!(per >= hop as f64, "the map stores the hop inline");
    }
    println!("{report}");
}
