//! Which SIMD instruction set the CPU kernels use, detected at run time.
//!
//! An [`Isa`] other than [`Isa::scalar`] can only be obtained from
//! [`Isa::best`], [`Isa::available`] or [`Isa::by_name`], each of which
//! checks the CPU first: the kernels rely on that to call functions compiled
//! for the instruction set.

/// The instruction set of the CPU kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Isa(Level);

/// The levels, in order of preference. Constructed only after detection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Level {
    /// Portable Rust, on every machine.
    Scalar,
    /// x86_64 AVX2 + FMA + F16C (Haswell, Zen 1 and later): 8 rows per
    /// vector, 8-bit dot products through `vpmaddubsw`.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// x86_64 AVX-512 F/BW/VL + VNNI (Ice Lake, Zen 4 and later): 16 rows
    /// per vector, `vpdpbusd`.
    #[cfg(target_arch = "x86_64")]
    Avx512Vnni,
    /// aarch64 NEON with the dot-product extension (Apple silicon, most
    /// phones since 2018): `sdot`.
    #[cfg(target_arch = "aarch64")]
    NeonDot,
}

impl Isa {
    /// The portable fallback (every machine).
    pub fn scalar() -> Isa {
        Isa(Level::Scalar)
    }

    /// Every instruction set this CPU runs, the portable one first and the
    /// best last.
    pub fn available() -> Vec<Isa> {
        #[allow(unused_mut)]
        let mut v = vec![Isa(Level::Scalar)];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
                && std::arch::is_x86_feature_detected!("f16c")
            {
                v.push(Isa(Level::Avx2));
                if std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("avx512vnni")
                {
                    v.push(Isa(Level::Avx512Vnni));
                }
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            if std::arch::is_aarch64_feature_detected!("neon")
                && std::arch::is_aarch64_feature_detected!("dotprod")
            {
                v.push(Isa(Level::NeonDot));
            }
        }
        v
    }

    /// The best instruction set of this CPU.
    pub fn best() -> Isa {
        Self::available().pop().unwrap_or(Isa(Level::Scalar))
    }

    /// The instruction set named `name` ([`Isa::name`], case-insensitive),
    /// when this CPU runs it.
    pub fn by_name(name: &str) -> Option<Isa> {
        Self::available()
            .into_iter()
            .find(|i| i.name().eq_ignore_ascii_case(name))
    }

    /// "scalar", "avx2", "avx512-vnni" or "neon-dot".
    pub fn name(self) -> &'static str {
        match self.0 {
            Level::Scalar => "scalar",
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => "avx2",
            #[cfg(target_arch = "x86_64")]
            Level::Avx512Vnni => "avx512-vnni",
            #[cfg(target_arch = "aarch64")]
            Level::NeonDot => "neon-dot",
        }
    }

    pub(crate) fn level(self) -> Level {
        self.0
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_best_is_last() {
        let all = Isa::available();
        assert_eq!(all[0], Isa::scalar());
        assert_eq!(*all.last().unwrap(), Isa::best());
        for isa in all {
            assert_eq!(Isa::by_name(isa.name()), Some(isa));
        }
        assert_eq!(Isa::by_name("no-such-isa"), None);
    }
}
