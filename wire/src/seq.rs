//! Sequence-number comparison exactly as corosync does it.

/// corosync's `sq_lt_compare`: `a < b` with its particular wrap rule.
///
/// If either value is above 0x8000_0000 both are shifted down by 0x10000 (wrapping) before
/// comparing; otherwise they compare plainly. This is not serial-number arithmetic; it must be
/// replicated as is for rings to agree near the wrap point.
pub fn sq_lt(a: u32, b: u32) -> bool {
    if a > 0x8000_0000 || b > 0x8000_0000 {
        a.wrapping_sub(0x10000) < b.wrapping_sub(0x10000)
    } else {
        a < b
    }
}

/// `a <= b` under the same rule.
pub fn sq_lte(a: u32, b: u32) -> bool {
    a == b || sq_lt(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_below_threshold() {
        assert!(sq_lt(1, 2));
        assert!(!sq_lt(2, 1));
        assert!(!sq_lt(5, 5));
        assert!(sq_lte(5, 5));
    }

    #[test]
    fn wrap_rule() {
        // 0xFFFF_FFF0 shifted is 0xFFFE_FFF0; 0x10 shifted wraps to 0xFFFF_0010: so the
        // value just past the wrap compares greater, as on a real ring.
        assert!(sq_lt(0xFFFF_FFF0, 0x10));
        assert!(!sq_lt(0x10, 0xFFFF_FFF0));
        // Far apart on both sides of the threshold, plain order after the shift.
        assert!(sq_lt(0x7000_0000, 0x9000_0000));
    }
}
