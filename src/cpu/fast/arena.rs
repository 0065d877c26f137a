//! Activation memory: which buffer each slot lives in (shared by slots whose lives do not
//! overlap), and the buffers themselves, one set per thread.

use super::plan::Plan;

/// One thread's activation buffers, sized for `batch` samples.
#[derive(Debug, Clone, Default)]
pub struct Arena {
    /// The buffers, each `batch ×` its per-sample length.
    pub buffers: Vec<Vec<f32>>,
    /// Samples the buffers are sized for.
    pub batch: usize,
}

/// Gives every written slot an arena buffer, reusing the buffers of tensors no later step reads.
/// Returns each slot's buffer and each buffer's per-sample length.
pub fn assign_buffers(plan: &Plan) -> (Vec<Option<usize>>, Vec<usize>) {
    let n = plan.slots.len();
    let mut last_read = vec![None; n];
    for (i, (_, step)) in plan.steps.iter().enumerate() {
        for r in step.reads() {
            last_read[r] = Some(i);
        }
    }
    let mut buffer_of = vec![None; n];
    let mut lens: Vec<usize> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let take = |need: usize, lens: &mut Vec<usize>, free: &mut Vec<usize>| {
        // The smallest free buffer that fits, else a new one.
        let best = free
            .iter()
            .enumerate()
            .filter(|(_, b)| lens[**b] >= need)
            .min_by_key(|(_, b)| lens[**b])
            .map(|(i, _)| i);
        match best {
            Some(i) => free.swap_remove(i),
            None => {
                lens.push(need);
                lens.len() - 1
            }
        }
    };
    for &slot in &plan.inputs {
        buffer_of[slot] = Some(take(plan.slots[slot].shape.len(), &mut lens, &mut free));
    }
    for (i, (_, step)) in plan.steps.iter().enumerate() {
        let out = step.writes();
        buffer_of[out] = Some(take(plan.slots[out].shape.len(), &mut lens, &mut free));
        let mut dead: Vec<usize> = step
            .reads()
            .into_iter()
            .filter(|&r| last_read[r] == Some(i) && r != plan.output)
            .collect();
        if last_read[out].is_none() && out != plan.output {
            dead.push(out);
        }
        dead.sort_unstable();
        dead.dedup();
        for r in dead {
            free.push(buffer_of[r].expect("read slots have buffers"));
        }
    }
    (buffer_of, lens)
}
