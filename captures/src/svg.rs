//! A hand-written SVG of a [`Timeline`]: one lane per node with its rings as coloured spans,
//! event marks, and token rotation over time below.

use std::fmt::Write as _;

use crate::timeline::{Happening, Timeline};

const W: f64 = 1000.0;
const LEFT: f64 = 80.0;
const LANE: f64 = 28.0;
const PALETTE: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Renders the timeline as a standalone SVG document.
pub fn render(t: &Timeline, title: &str) -> String {
    let span = t.duration.max(1e-3);
    let x = |at: f64| LEFT + (at / span) * (W - LEFT - 20.0);
    let lanes_top = 40.0;
    let lanes_h = LANE * t.nodes.len().max(1) as f64;
    let plot_top = lanes_top + lanes_h + 40.0;
    let plot_h = 160.0;
    let height = plot_top + plot_h + 40.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" viewBox="0 0 {W} {height}" font-family="sans-serif" font-size="11">"##
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="white"/>"##);
    let _ = writeln!(
        s,
        r##"<text x="10" y="20" font-size="14">{}</text>"##,
        esc(title)
    );
    // Lanes.
    for (li, node) in t.nodes.iter().enumerate() {
        let y = lanes_top + li as f64 * LANE;
        let _ = writeln!(
            s,
            r##"<text x="10" y="{:.1}">node {node}</text><line x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#ddd"/>"##,
            y + LANE * 0.6,
            W - 20.0,
            y + LANE / 2.0,
            y + LANE / 2.0
        );
        // The node's rings in formation order; each lasts until the node's next ring.
        let mine: Vec<usize> = (0..t.rings.len())
            .filter(|&i| t.rings[i].members.contains(node))
            .collect();
        for (k, &i) in mine.iter().enumerate() {
            let r = &t.rings[i];
            let end = mine
                .get(k + 1)
                .map(|&j| t.rings[j].formed_at)
                .unwrap_or(r.last_at)
                .min(r.last_at.max(r.formed_at));
            let (x0, x1) = (x(r.formed_at), x(end).max(x(r.formed_at) + 2.0));
            let _ = writeln!(
                s,
                r##"<rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}" opacity="0.85"><title>ring {} members {:?}</title></rect><text x="{:.1}" y="{:.1}" fill="white">{}</text>"##,
                y + 4.0,
                x1 - x0,
                LANE - 8.0,
                PALETTE[i % PALETTE.len()],
                esc(&r.id.to_string()),
                r.members,
                x0 + 3.0,
                y + LANE * 0.62,
                esc(&r.id.to_string())
            );
        }
    }
    // Event marks across the lanes.
    for e in &t.events {
        let colour = match e.what {
            Happening::TokenLoss { .. } => "#d00",
            Happening::Partition { .. } | Happening::PartitionSeen { .. } => "#a0a",
            Happening::Merge { .. } => "#080",
            Happening::Leave { .. } => "#f80",
            _ => continue,
        };
        let xe = x(e.at);
        let _ = writeln!(
            s,
            r##"<line x1="{xe:.1}" x2="{xe:.1}" y1="{lanes_top}" y2="{:.1}" stroke="{colour}" stroke-dasharray="3,2"><title>{} (frame {})</title></line>"##,
            lanes_top + lanes_h,
            e.what.kind(),
            e.frame
        );
    }
    // Token rotation plot.
    let max_rot = t
        .rings
        .iter()
        .flat_map(|r| r.rotations.iter().map(|p| p.1))
        .fold(0.0f64, f64::max)
        .max(1e-3);
    let _ = writeln!(
        s,
        r##"<text x="10" y="{:.1}">token rotation (max {:.1} ms)</text><rect x="{LEFT}" y="{plot_top}" width="{:.1}" height="{plot_h}" fill="none" stroke="#999"/>"##,
        plot_top - 8.0,
        max_rot * 1e3,
        W - LEFT - 20.0
    );
    for (i, r) in t.rings.iter().enumerate() {
        let mut pts = String::new();
        for (at, rot) in &r.rotations {
            let _ = write!(
                pts,
                "{:.1},{:.1} ",
                x(*at),
                plot_top + plot_h - rot / max_rot * plot_h
            );
        }
        if !pts.is_empty() {
            let _ = writeln!(
                s,
                r##"<polyline points="{}" fill="none" stroke="{}" stroke-width="1"/>"##,
                pts.trim_end(),
                PALETTE[i % PALETTE.len()]
            );
        }
    }
    // Time axis.
    let axis_y = plot_top + plot_h + 16.0;
    let step = nice_step(span);
    let mut tick = 0.0;
    while tick <= span + 1e-9 {
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{axis_y:.1}" text-anchor="middle">{tick:.1} s</text>"##,
            x(tick)
        );
        tick += step;
    }
    s.push_str("</svg>\n");
    s
}

fn nice_step(span: f64) -> f64 {
    let raw = span / 10.0;
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
}

#[cfg(test)]
mod tests {
    use super::nice_step;

    #[test]
    fn steps_are_round_and_give_at_most_ten_ticks() {
        assert_eq!(nice_step(11.0), 2.0);
        assert_eq!(nice_step(1.0), 0.1);
        assert!((nice_step(0.35) - 0.05).abs() < 1e-12);
    }
}
