//! [`Lcg`]: a tiny deterministic generator, so a failing test replays.

/// A 64-bit linear congruential generator (Knuth's MMIX constants),
/// returning its high 31 bits. Not for anything but test workloads.
#[derive(Debug, Clone)]
pub struct Lcg(pub u64);

impl Lcg {
    /// The next pseudo-random number, below 2^31.
    pub fn draw(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}
