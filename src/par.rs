//! Splitting work over the machine's cores, the same way everywhere.

/// How many items each part gets when `n` items are split over the cores
/// (at most 8): all of them (one part, no thread) below `threads_from`
/// items or on one core.
pub fn chunk_len(n: usize, threads_from: usize) -> usize {
    let workers = std::thread::available_parallelism().map_or(1, |w| w.get()).min(8);
    if workers < 2 || n < threads_from {
        return n.max(1);
    }
    n.div_ceil(workers).max(1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn small_work_is_one_part() {
        assert_eq!(super::chunk_len(10, 100), 10);
        assert_eq!(super::chunk_len(0, 100), 1);
        let c = super::chunk_len(1000, 100);
        assert!((125..=1000).contains(&c), "{c}");
    }
}
