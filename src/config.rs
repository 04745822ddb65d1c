//! The module's tunable limits.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::errors::{DEFAULT_MAX_PAYLOAD_DATA, DEFAULT_MAX_PAYLOAD_NAME};

static MAX_PAYLOAD_NAME: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_PAYLOAD_NAME);
static MAX_PAYLOAD_DATA: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_PAYLOAD_DATA);

pub fn max_payload_name() -> usize {
    MAX_PAYLOAD_NAME.load(Ordering::Relaxed)
}

pub fn max_payload_data() -> usize {
    MAX_PAYLOAD_DATA.load(Ordering::Relaxed)
}
