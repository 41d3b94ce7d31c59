//! The step graph: execution order and cycles.

use crate::runbook::resolve::Flow;

/// The steps in an order that respects every dependency; among steps that are ready together,
/// file order wins (so the plan reads like the file). Err holds one cycle, as step indices,
/// first step repeated at the end.
pub fn order(flow: &Flow) -> Result<Vec<usize>, Vec<usize>> {
    let n = flow.steps.len();
    let mut waiting: Vec<usize> = flow.steps.iter().map(|s| s.deps.len()).collect();
    let mut dependents = vec![Vec::new(); n];
    for (i, s) in flow.steps.iter().enumerate() {
        for &(d, _) in &s.deps {
            dependents[d].push(i);
        }
    }
    let mut ready: std::collections::BTreeSet<usize> =
        (0..n).filter(|&i| waiting[i] == 0).collect();
    let mut out = Vec::with_capacity(n);
    while let Some(i) = ready.pop_first() {
        out.push(i);
        for &j in &dependents[i] {
            waiting[j] -= 1;
            if waiting[j] == 0 {
                ready.insert(j);
            }
        }
    }
    if out.len() == n {
        return Ok(out);
    }
    Err(find_cycle(flow, &waiting))
}

/// Walk dependencies from a step that never became ready until a step repeats.
fn find_cycle(flow: &Flow, waiting: &[usize]) -> Vec<usize> {
    let start = waiting
        .iter()
        .position(|&w| w > 0)
        .expect("an unordered step exists");
    let mut path = vec![start];
    let mut current = start;
    loop {
        let next = flow.steps[current]
            .deps
            .iter()
            .map(|&(d, _)| d)
            .find(|&d| waiting[d] > 0)
            .expect("a step in a cycle waits for another step in it");
        if let Some(pos) = path.iter().position(|&p| p == next) {
            let mut cycle = path[pos..].to_vec();
            cycle.push(next);
            // Show the cycle in dependency order: a → b means a is needed by b.
            cycle.reverse();
            return cycle;
        }
        path.push(next);
        current = next;
    }
}

/// Each step's depth in the graph (0 for steps that wait for nothing), for display.
pub fn levels(flow: &Flow, order: &[usize]) -> Vec<usize> {
    let mut level = vec![0; flow.steps.len()];
    for &i in order {
        level[i] = flow.steps[i]
            .deps
            .iter()
            .map(|&(d, _)| level[d] + 1)
            .max()
            .unwrap_or(0);
    }
    level
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::resolve::FlowStep;
    use crate::runbook::source::Span;

    fn flow(deps: &[&[usize]]) -> Flow {
        Flow {
            scopes: Vec::new(),
            steps: deps
                .iter()
                .enumerate()
                .map(|(i, d)| FlowStep {
                    id: format!("s{i}"),
                    scope: 0,
                    index: i,
                    deps: d.iter().map(|&x| (x, Span::default())).collect(),
                    reads: d.to_vec(),
                })
                .collect(),
        }
    }

    #[test]
    fn orders_dependencies_first_and_file_order_otherwise() {
        assert_eq!(order(&flow(&[&[2], &[], &[]])).unwrap(), vec![1, 2, 0]);
    }

    #[test]
    fn reports_a_cycle_in_dependency_order() {
        let cycle = order(&flow(&[&[], &[3], &[1], &[2]])).unwrap_err();
        assert_eq!(cycle.len(), 4);
        assert_eq!(cycle.first(), cycle.last());
        // Each step in the cycle is needed by the next.
        let f = flow(&[&[], &[3], &[1], &[2]]);
        for w in cycle.windows(2) {
            assert!(f.steps[w[1]].deps.iter().any(|&(d, _)| d == w[0]));
        }
    }
}
