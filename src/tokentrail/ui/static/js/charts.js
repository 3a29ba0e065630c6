// Charts drawn as SVG by our own code: lines, areas (stacked or not) and bars, over time or
// over categories, with a hover read-out and click-to-drill. Sized to their container and
// redrawn when it changes width.

import { h } from "./dom.js";
import { dateTime, parseTime } from "./fmt.js";

const NS = "http://www.w3.org/2000/svg";
export const PALETTE = ["#2563eb", "#f59e0b", "#10b981", "#a855f7", "#ef4444", "#06b6d4", "#ec4899", "#84cc16",
  "#64748b"];
export const COLORS = {
  requests: "#2563eb", cost: "#059669", errors: "#dc2626", rate_limited: "#f59e0b", timeouts: "#7c3aed",
  p50: "#93c5fd", p95: "#2563eb", p99: "#1e3a8a", input: "#0ea5e9", output: "#f97316", other: "#94a3b8",
};

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

/** Rounded axis ticks from 0 to at least `max`; whole numbers only for a series of counts (3 errors
 * on a short range read 0, 1, 2, 3, not 0, 0.75, 1.5 shown as "0, 1, 1, 2"). */
export function niceTicks(max, count = 4, integer = false) {
  if (!(max > 0)) return [0, 1];
  const raw = integer ? Math.max(1, max / count) : max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const steps = (integer && mag === 1 ? [1, 2, 5, 10] : [1, 2, 2.5, 5, 10]).map((m) => m * mag);
  const stepSize = steps.find((st) => st >= raw);
  const ticks = [];
  for (let v = 0; v <= max + stepSize * 0.001; v += stepSize) ticks.push(v);
  if (ticks[ticks.length - 1] < max) ticks.push(ticks[ticks.length - 1] + stepSize);
  return ticks;
}

const NICE_INTERVALS = [60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400];

/** Which time points get a label: aligned to a nice local interval, about one per 90 px. */
function timeTicks(times, stepSeconds, width) {
  const n = times.length;
  const span = n * stepSeconds;
  const maxTicks = Math.max(2, Math.floor(width / 90));
  const interval = NICE_INTERVALS.find((i) => i >= stepSeconds && span / i <= maxTicks) || 30 * 86400;
  const out = [];
  let previous = null;
  times.forEach((t, i) => {
    // a label where a bucket holds the start of a new interval (local time)
    const slot = Math.floor((Math.round(t.getTime() / 1000) - t.getTimezoneOffset() * 60) / interval);
    if (previous !== null && slot !== previous) out.push(i);
    else if (previous === null && (Math.round(t.getTime() / 1000) - t.getTimezoneOffset() * 60) % interval === 0) out.push(i);
    previous = slot;
  });
  const pad = (x) => String(x).padStart(2, "0");
  const label = (bucket) => {
    const local = Math.round(bucket.getTime() / 1000) - bucket.getTimezoneOffset() * 60;
    const boundary = Math.floor(local / interval) * interval; // the interval start this bucket passed
    const t = new Date(bucket.getTime() + (boundary - local) * 1000);
    const midnight = t.getHours() === 0 && t.getMinutes() === 0;
    if (interval >= 86400 || midnight) return t.toLocaleString("en-US", { month: "short", day: "numeric" });
    return `${pad(t.getHours())}:${pad(t.getMinutes())}`;
  };
  return out.map((i) => ({ i, text: label(times[i]) }));
}

function categoryTicks(labels, width) {
  const widest = Math.max(1, ...labels.map((l) => String(l).length)) * 6.5 + 12;
  const every = Math.max(1, Math.ceil((labels.length * widest) / width));
  return labels.map((text, i) => ({ i, text })).filter(({ i }) => i % every === 0);
}

/**
 * A chart in a container element.
 *   x: {times: [iso...], step: seconds} or {labels: [...]}
 *   series: [{name, values, color, dash}]
 *   type: "line" | "area" | "bar";  stacked: bool;  format: y value -> text (axisFormat for the axis)
 *   x.tips: a longer label per point for the read-out;  legend: false to hide it
 *   refLine: {value, label};  onClick: index -> void;  height: px;  testid
 *   bands: [{since, until, label, tone}] shaded time ranges behind the series (time charts)
 *   onBrush: (first index, last index) -> void: drag across the chart to pick a range
 */
export function chart(opts) {
  const { series, testid, height = 190 } = opts;
  const legend = opts.legend !== false && (series.length > 1 || opts.legend) ? legendFor(series, opts) : null;
  const box = h("div", { class: "chart-box", style: { height: height + "px" } });
  const tip = h("div", { class: "chart-tip", hidden: true });
  const wrap = h("div", { class: "chart", testid }, legend, box, tip);
  let lastWidth = 0;
  const ro = new ResizeObserver(() => {
    const w = Math.floor(box.clientWidth);
    if (w > 0 && w !== lastWidth) {
      lastWidth = w;
      draw(box, tip, w, height, opts);
      wrap.dataset.drawn = "true";
    }
  });
  ro.observe(box);
  return wrap;
}

function legendFor(series, opts) {
  return h("div", { class: "legend" }, series.map((sr) => {
    const total = sr.values.reduce((a, v) => a + (typeof v === "number" ? v : 0), 0);
    return h("span", { class: "legend-item", dataset: { series: sr.name, sum: String(total) } },
      h("i", { style: { background: sr.color, ...(sr.dash ? { opacity: 0.6 } : {}) } }), sr.name);
  }), opts.legendNote ? h("span", { class: "legend-note" }, opts.legendNote) : null);
}

function draw(box, tip, width, height, opts) {
  const { series, type = "line", stacked = false, format = String, refLine } = opts;
  const times = opts.x.times ? opts.x.times.map(parseTime) : null;
  const labels = opts.x.labels || null;
  const n = times ? times.length : labels.length;
  const stacks = stacked ? stackValues(series, n) : null;
  let maxY = 0;
  for (let i = 0; i < n; i++) {
    if (stacked) maxY = Math.max(maxY, stacks[stacks.length - 1][i][1]);
    else for (const sr of series) if (typeof sr.values[i] === "number") maxY = Math.max(maxY, sr.values[i]);
  }
  if (refLine && refLine.value > 0) maxY = Math.max(maxY, refLine.value * 1.05);
  const integer = !stacked ? series.every((sr) => sr.values.every((v) => typeof v !== "number" || Number.isInteger(v)))
    : stacks.every((layer) => layer.every(([, hi]) => Number.isInteger(hi)));
  const ticks = niceTicks(maxY, 4, integer);
  const top = ticks[ticks.length - 1];
  const tickTexts = ticks.map(opts.axisFormat || format);
  const m = { l: Math.max(28, 7 * Math.max(...tickTexts.map((t) => t.length)) + 8), r: 10, t: 8, b: 22 };
  const pw = Math.max(10, width - m.l - m.r);
  const ph = height - m.t - m.b;
  const band = pw / Math.max(1, n);
  const xAt = (i) => m.l + band * (i + 0.5);
  const yAt = (v) => m.t + ph - (ph * v) / (top || 1);
  const svg = s("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "chart-svg", role: "img" });

  ticks.forEach((v, k) => {
    const y = yAt(v);
    svg.append(s("line", { x1: m.l, x2: width - m.r, y1: y, y2: y, class: k === 0 ? "axis" : "grid" }));
    svg.append(s("text", { x: m.l - 6, y: y + 4, class: "tick", "text-anchor": "end" }, tickTexts[k]));
  });
  const xt = times ? timeTicks(times, opts.x.step || 60, pw) : categoryTicks(labels, pw);
  for (const { i, text } of xt) {
    svg.append(s("text", { x: xAt(i), y: height - 6, class: "tick", "text-anchor": "middle" }, text));
  }

  if (times && opts.bands) drawBands(svg, opts.bands, times, opts.x.step || 60, m, pw, ph, band);
  // a series of zeros is "nothing" (no requests); where 0 is a value (a thumbs-down's mean), opts.zeroIsData
  const empty = !series.some((sr) => sr.values.some((v) => typeof v === "number" && (v !== 0 || opts.zeroIsData)));
  if (empty) {
    svg.append(s("text", { x: m.l + pw / 2, y: m.t + ph / 2, class: "chart-empty", "text-anchor": "middle" },
      opts.emptyText || "nothing in this range"));
  } else if (type === "bar") {
    drawBars(svg, series, stacks, n, band, xAt, yAt);
  } else {
    drawLines(svg, series, stacks, n, xAt, yAt, type === "area", stacked);
  }
  if (refLine && refLine.value > 0) {
    const y = yAt(refLine.value);
    svg.append(s("line", { x1: m.l, x2: width - m.r, y1: y, y2: y, class: "ref-line" }));
    svg.append(s("text", { x: width - m.r - 4, y: y - 5, class: "ref-label", "text-anchor": "end" }, refLine.label));
  }
  const guide = s("line", { x1: 0, x2: 0, y1: m.t, y2: m.t + ph, class: "guide", visibility: "hidden" });
  svg.append(guide);
  const overlay = s("rect", { x: m.l, y: m.t, width: pw, height: ph, fill: "transparent",
    class: opts.onClick ? "overlay clickable" : "overlay" });
  svg.append(overlay);
  const indexAt = (ev) => {
    const r = svg.getBoundingClientRect();
    return Math.min(n - 1, Math.max(0, Math.floor((ev.clientX - r.left - m.l) / band)));
  };
  overlay.addEventListener("mousemove", (ev) => {
    const i = indexAt(ev);
    guide.setAttribute("x1", xAt(i));
    guide.setAttribute("x2", xAt(i));
    guide.setAttribute("visibility", "visible");
    showTip(tip, box, ev, i, times, labels, opts);
  });
  overlay.addEventListener("mouseleave", () => {
    guide.setAttribute("visibility", "hidden");
    tip.hidden = true;
  });
  let brushed = false;
  if (opts.onClick) {
    overlay.addEventListener("click", (ev) => {
      if (!brushed) opts.onClick(indexAt(ev));
      brushed = false;
    });
  }
  if (opts.onBrush) brush(svg, overlay, indexAt, xAt, band, m, ph, opts.onBrush, () => { brushed = true; });
  box.replaceChildren(svg);
}

/** Shaded time ranges (the baseline and the window of the explainer) behind the series. */
function drawBands(svg, bands, times, stepSeconds, m, pw, ph, band) {
  const t0 = times[0].getTime();
  const xOf = (t) => Math.min(m.l + pw, Math.max(m.l, m.l + (band * (parseTime(t).getTime() - t0)) / (stepSeconds * 1000)));
  for (const b of bands) {
    const x1 = xOf(b.since);
    const x2 = Math.max(x1 + 2, xOf(b.until));
    svg.append(s("rect", { x: x1.toFixed(1), y: m.t, width: (x2 - x1).toFixed(1), height: ph,
      class: `band band-${b.tone || "neutral"}`, "data-band": b.label }));
    if (!b.label) continue;
    // inside the band when it is wide enough, else beside it (left of it near the right edge)
    const inside = x2 - x1 > 60;
    const right = !inside && x2 + 60 > m.l + pw;
    svg.append(s("text", { x: (inside ? x1 + 4 : right ? x1 - 4 : x2 + 4).toFixed(1), y: m.t + 12,
      "text-anchor": right ? "end" : "start", class: `band-label band-label-${b.tone || "neutral"}` }, b.label));
  }
}

/** Drag across the plot to pick a range of buckets: a shaded selection, then onBrush(first, last). */
function brush(svg, overlay, indexAt, xAt, band, m, ph, onBrush, consumed) {
  const sel = s("rect", { y: m.t, height: ph, class: "brush", visibility: "hidden" });
  svg.insertBefore(sel, overlay);
  let from = null;
  let to = null;
  const show = () => {
    const [a, b] = [Math.min(from, to), Math.max(from, to)];
    sel.setAttribute("x", (xAt(a) - band / 2).toFixed(1));
    sel.setAttribute("width", (band * (b - a + 1)).toFixed(1));
    sel.setAttribute("visibility", "visible");
  };
  overlay.addEventListener("mousedown", (ev) => {
    if (ev.button !== 0) return;
    from = to = indexAt(ev);
    ev.preventDefault();
  });
  overlay.addEventListener("mousemove", (ev) => {
    if (from === null) return;
    to = indexAt(ev);
    if (to !== from) show();
  });
  const end = (ev) => {
    if (from === null) return;
    to = indexAt(ev);
    const [a, b] = [Math.min(from, to), Math.max(from, to)];
    from = null;
    sel.setAttribute("visibility", "hidden");
    if (b > a) {
      consumed();
      onBrush(a, b);
    }
  };
  overlay.addEventListener("mouseup", end);
  overlay.addEventListener("mouseleave", () => {
    from = null;
    sel.setAttribute("visibility", "hidden");
  });
}

function stackValues(series, n) {
  const base = new Array(n).fill(0);
  return series.map((sr) => Array.from({ length: n }, (_, i) => {
    const v = typeof sr.values[i] === "number" ? sr.values[i] : 0;
    const pair = [base[i], base[i] + v];
    base[i] += v;
    return pair;
  }));
}

function drawBars(svg, series, stacks, n, band, xAt, yAt) {
  const inner = Math.max(1, band * 0.78);
  const per = stacks ? inner : inner / series.length;
  series.forEach((sr, k) => {
    const g = s("g", { fill: sr.color, "data-series": sr.name });
    for (let i = 0; i < n; i++) {
      const [lo, hi] = stacks ? stacks[k][i] : [0, sr.values[i] || 0];
      if (!(hi > lo)) continue;
      const x = xAt(i) - inner / 2 + (stacks ? 0 : per * k);
      const y = yAt(hi);
      g.append(s("rect", { x: x.toFixed(1), y: y.toFixed(1), width: Math.max(1, per - (band > 6 ? 1 : 0)).toFixed(1),
        height: Math.max(0.5, yAt(lo) - y).toFixed(1), rx: per > 8 ? 2 : 0 }));
    }
    svg.append(g);
  });
}

function drawLines(svg, series, stacks, n, xAt, yAt, area, stacked) {
  series.forEach((sr, k) => {
    const pts = Array.from({ length: n }, (_, i) => {
      if (stacked) return [xAt(i), yAt(stacks[k][i][1]), yAt(stacks[k][i][0])];
      const v = sr.values[i];
      return typeof v === "number" ? [xAt(i), yAt(v), yAt(0)] : null;
    });
    const runs = [];
    let run = [];
    for (const p of pts) {
      if (p) run.push(p);
      else if (run.length) {
        runs.push(run);
        run = [];
      }
    }
    if (run.length) runs.push(run);
    const g = s("g", { "data-series": sr.name });
    for (const r of runs) {
      const line = r.map(([x, y], j) => `${j ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join("");
      if (area) {
        const back = r.slice().reverse().map(([x, , y0]) => `L${x.toFixed(1)},${y0.toFixed(1)}`).join("");
        g.append(s("path", { d: line + back + "Z", fill: sr.color, "fill-opacity": stacked ? 0.55 : 0.14 }));
      }
      g.append(s("path", { d: line, fill: "none", stroke: sr.color, "stroke-width": stacked ? 1 : 1.8,
        "stroke-dasharray": sr.dash ? "4 3" : null, "stroke-linejoin": "round" }));
      if (r.length === 1) g.append(s("circle", { cx: r[0][0], cy: r[0][1], r: 2.5, fill: sr.color }));
    }
    svg.append(g);
  });
}

function showTip(tip, box, ev, i, times, labels, opts) {
  const { series, format = String, stacked } = opts;
  let title;
  if (times) {
    const end = new Date(times[i].getTime() + (opts.x.step || 60) * 1000);
    title = `${dateTime(times[i], false)} – ${dateTime(end, false).split(", ").pop()}`;
  } else title = (opts.x.tips || labels)[i];
  const rows = series.map((sr) => h("div", { class: "tip-row" }, h("i", { style: { background: sr.color } }),
    h("span", {}, sr.name), h("b", {}, format(sr.values[i] ?? null))));
  if (stacked && series.length > 1) {
    const total = series.reduce((a, sr) => a + (sr.values[i] || 0), 0);
    rows.push(h("div", { class: "tip-row tip-total" }, h("span", {}, "total"), h("b", {}, format(total))));
  }
  tip.replaceChildren(h("div", { class: "tip-title" }, title), ...rows,
    opts.onClick ? h("div", { class: "tip-hint" }, opts.clickHint || "click to see these traces") : null,
    opts.onBrush ? h("div", { class: "tip-hint" }, "drag across a range to explain it") : null);
  tip.hidden = false;
  const r = box.getBoundingClientRect();
  const x = ev.clientX - r.left;
  tip.style.top = `${box.offsetTop + 8}px`;
  tip.style.left = x > r.width / 2 ? "" : `${x + 14}px`;
  tip.style.right = x > r.width / 2 ? `${r.width - x + 14}px` : "";
}

/** One series' values out of a /api/metrics/timeseries answer (zeros when the group is absent). */
export function seriesValues(ts, metric, group = "all") {
  const found = ts.series.find((x) => x.group === group);
  return found ? found.metrics[metric] : ts.timestamps.map(() => 0);
}

/** One series per group of a grouped timeseries, biggest first ("other" last), each its own color. */
export function groupSeries(ts, metric) {
  const total = (sr) => sr.metrics[metric].reduce((a, v) => a + (v || 0), 0);
  return ts.series
    .map((sr) => ({ sr, sum: total(sr) }))
    .sort((a, b) => (a.sr.group === "other") - (b.sr.group === "other") || b.sum - a.sum)
    .map(({ sr }, i) => ({ name: sr.group || "(none)", values: sr.metrics[metric],
      color: sr.group === "other" ? COLORS.other : PALETTE[i % PALETTE.length] }));
}
