//! Topological order of the buses (master last); a cycle falls out as an error naming it.

use crate::session::Session;

/// Why the buses cannot be ordered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SortError {
    /// `buses` lists the cycle's bus ids, first repeated last
    /// (`a → b → a`); `via` names the JSON path of each link.
    #[error("routing cycle {} (via {})", buses.join(" → "), via.join(", "))]
    Cycle { buses: Vec<String>, via: Vec<String> },
}

/// One dependency: bus `from` must be processed before bus `to`.
#[derive(Clone, Debug)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    /// JSON path of the route, send or sidechain that makes this edge.
    pub via: String,
}

/// Every ordering constraint between buses: routes, sends, and sidechain
/// keys taken from another bus. References to unknown ids are skipped (the
/// loader reports them).
pub fn edges(session: &Session) -> Vec<Edge> {
    let index = |id: &str| session.buses.iter().position(|b| b.id == id);
    let mut edges = Vec::new();
    for (i, bus) in session.buses.iter().enumerate() {
        if let Some(to) = bus.route.as_deref().and_then(index) {
            edges.push(Edge { from: i, to, via: format!("buses[{i}].route") });
        }
        for (j, send) in bus.sends.iter().enumerate() {
            if let Some(to) = index(&send.to) {
                edges.push(Edge { from: i, to, via: format!("buses[{i}].sends[{j}]") });
            }
        }
        for (j, insert) in bus.inserts.iter().enumerate() {
            for (k, sc) in insert.sidechains.iter().enumerate() {
                if let Some(from) = index(&sc.from) {
                    edges.push(Edge { from, to: i, via: format!("buses[{i}].inserts[{j}].sidechains[{k}]") });
                }
            }
        }
    }
    edges
}

/// Bus indices in processing order: every bus after everything it reads,
/// ties broken by file order. The master comes last in any acyclic session,
/// because every other bus reaches it and nothing leaves it.
///
/// # Errors
/// [`SortError::Cycle`] naming one cycle if the graph has any.
pub fn bus_order(session: &Session) -> Result<Vec<usize>, SortError> {
    let n = session.buses.len();
    let edges = edges(session);
    let mut indegree = vec![0usize; n];
    for e in &edges {
        indegree[e.to] += 1;
    }
    let mut done = vec![false; n];
    let mut order = Vec::with_capacity(n);
    while let Some(next) = (0..n).find(|&i| !done[i] && indegree[i] == 0) {
        done[next] = true;
        order.push(next);
        for e in edges.iter().filter(|e| e.from == next) {
            indegree[e.to] -= 1;
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    // Every bus left over has an incoming edge from another left-over bus;
    // walking those edges backwards must revisit a bus: that is a cycle.
    let start = (0..n).find(|&i| !done[i]).expect("some bus is left");
    let mut walk = vec![start];
    let mut links: Vec<&Edge> = Vec::new();
    loop {
        let current = *walk.last().expect("walk is never empty");
        let edge = edges.iter().find(|e| e.to == current && !done[e.from]).expect("left-over buses have left-over inputs");
        links.push(edge);
        if let Some(pos) = walk.iter().position(|&b| b == edge.from) {
            // walk[pos..] is the cycle, traversed backwards.
            let mut buses: Vec<String> = walk[pos..].iter().rev().map(|&b| session.buses[b].id.clone()).collect();
            buses.push(buses[0].clone());
            // links[i] runs walk[i + 1] → walk[i]; the last one closes the loop.
            let (closing, inner) = links[pos..].split_last().expect("at least the closing link");
            let mut via: Vec<String> = inner.iter().rev().map(|e| e.via.clone()).collect();
            via.push(closing.via.clone());
            return Err(SortError::Cycle { buses, via });
        }
        walk.push(edge.from);
    }
}
