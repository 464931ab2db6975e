//! Wall-clock time per kind of op of a step (the bench's `--profile` on the
//! CPU path). Off, a lap costs one branch.

use std::time::Instant;

/// The time one kind of op took in a profiled step.
#[derive(Clone, Debug)]
pub(crate) struct Lap {
    pub name: &'static str,
    /// Ops of this kind in the step (one per layer, typically).
    pub ops: usize,
    pub seconds: f64,
}

#[derive(Default)]
pub(crate) struct Clock {
    last: Option<Instant>,
    laps: Vec<Lap>,
}

impl Clock {
    /// Starts timing: the next laps are recorded.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn start(&mut self) {
        self.laps.clear();
        self.last = Some(Instant::now());
    }

    /// Ends the op `name` (begun where the previous lap ended).
    #[inline]
    pub(crate) fn lap(&mut self, name: &'static str) {
        let Some(last) = self.last else { return };
        let now = Instant::now();
        let seconds = (now - last).as_secs_f64();
        match self.laps.iter_mut().find(|l| l.name == name) {
            Some(l) => {
                l.ops += 1;
                l.seconds += seconds;
            }
            None => self.laps.push(Lap {
                name,
                ops: 1,
                seconds,
            }),
        }
        self.last = Some(now);
    }

    /// Stops timing; returns the laps by kind, in graph order.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn stop(&mut self) -> Vec<Lap> {
        self.last = None;
        std::mem::take(&mut self.laps)
    }
}
