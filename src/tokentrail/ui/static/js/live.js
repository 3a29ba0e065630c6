// Live mode: pages register jobs (the traces list asks for rows newer than its newest every few
// seconds; dashboards redraw their numbers in place) that run only while live mode is on and the tab
// is visible. Each job waits for its previous run to end before the next is timed, so a slow server is
// never asked twice at once. The choice is remembered in this browser (localStorage).

const KEY = "tokentrail.live";
let jobs = [];

export function isOn() {
  try {
    return window.localStorage.getItem(KEY) === "1";
  } catch {
    return false;
  }
}

/** Turn live mode on or off (remembered); jobs start or stop at once. */
export function set(on) {
  try {
    window.localStorage.setItem(KEY, on ? "1" : "0");
  } catch {
    // private mode: live for this page only
  }
  for (const job of jobs) {
    clearTimeout(job.timer);
    if (on) run(job);
  }
  window.dispatchEvent(new CustomEvent("tt:live", { detail: { on } }));
}

/** Run `fn` every `ms` while live mode is on and the tab is visible, until the next page rendering. */
export function every(ms, fn) {
  const job = { ms, fn, timer: null, busy: false };
  jobs.push(job);
  schedule(job);
  return job;
}

/** A word beside the toggle on what live mode last did ("updated 10:02:03", "3 new calls"). */
export function status(text) {
  const el = document.querySelector("[data-testid=live-status]");
  if (el) el.textContent = text && isOn() ? text : "";
}

/** Forget every job: called before each rendering of a page. */
export function stopAll() {
  for (const job of jobs) clearTimeout(job.timer);
  jobs = [];
}

function schedule(job) {
  clearTimeout(job.timer);
  job.timer = null;
  if (!isOn() || document.hidden || !jobs.includes(job)) return;
  job.timer = setTimeout(() => run(job), job.ms);
}

async function run(job) {
  if (job.busy || !isOn() || document.hidden || !jobs.includes(job)) return;
  job.busy = true;
  try {
    await job.fn();
  } catch (e) {
    console.warn("tokentrail live update:", e); // the next run tries again; the page says what it showed
  } finally {
    job.busy = false;
    schedule(job);
  }
}

document.addEventListener("visibilitychange", () => {
  for (const job of jobs) {
    clearTimeout(job.timer);
    if (!document.hidden) run(job); // catch up at once when the tab is shown again
  }
});
