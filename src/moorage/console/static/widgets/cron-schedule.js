// A cron schedule behind one API path (GET, PUT {cron}, DELETE): the field with its legend of
// the five parts, the next and last run, Save and Remove. A bad part is named under the field
// and marked in the legend, so image cleanup and garbage collection refuse a cron alike.

import { ApiError, api, isAbortError } from "../api.js";
import { append, clear, formatDate, h, timeCell } from "../dom.js";
import { alertBox, messageOf } from "./alert.js";
import { button } from "./buttons.js";
import { setFieldError, textField } from "./form.js";
import { toast } from "./notify.js";

/** @typedef {{cron: string | null, next_run_at?: string | null, last_run_at?: string | null}} Schedule */

/**
 * @typedef {object} CronScheduleOptions
 * @property {string} path the schedule's API path
 * @property {AbortSignal} signal
 * @property {boolean} manage whether the user may change it (else the field is read-only)
 * @property {string} what what runs on it, in "No schedule: cleanup runs only when started here."
 * @property {string} [className] added to the form's own class
 * @property {import("../dom.js").Child} [note] a line under the status (what a scheduled run does)
 */

/** @typedef {{el: HTMLFormElement, load: () => Promise<void>}} CronSchedule */

const CRON_FIELDS = ["minute", "hour", "day of month", "month", "day of week"];
const UTC_FORMAT = new Intl.DateTimeFormat(undefined, {
  weekday: "short",
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  hourCycle: "h23",
  timeZone: "UTC",
});

/** @param {string} iso */
export function utc(iso) {
  return `${UTC_FORMAT.format(new Date(iso))} UTC`;
}

/**
 * The schedule form; call `load()` to show the saved schedule (and again to refresh it).
 * @param {CronScheduleOptions} options
 * @returns {CronSchedule}
 */
export function cronSchedule({ path, signal, manage, what, className, note }) {
  const idle = `${what} runs only when started here.`;
  const cron = textField({
    label: "Cron expression (UTC)",
    name: "cron",
    mono: true,
    placeholder: "0 3 * * SUN",
    spellcheck: false,
    hint: h("span", {}, "In UTC. For example ", h("code", {}, "0 3 * * SUN"), " runs every Sunday at 03:00, ", h("code", {}, "30 1 * * *"), " every day at 01:30."),
  });
  const legend = h(
    "div",
    { class: "cron-legend", "aria-hidden": "true" },
    CRON_FIELDS.map((name) => h("span", { class: "cron-part", dataset: { field: name } }, name)),
  );
  const saveSchedule = button("Save schedule", { kind: "primary", type: "submit" });
  const removeSchedule = button("Remove schedule", { kind: "secondary", onClick: () => unschedule() });
  const scheduleStatus = h("div", { class: "schedule-status", "aria-live": "polite" });
  const cronRow = h("div", { class: "cron-row" });
  cron.input.replaceWith(cronRow);
  append(cronRow, [cron.input, manage && saveSchedule, manage && removeSchedule]);
  cron.input.readOnly = !manage;
  cronRow.after(legend);

  /** @param {string | null} message the error, which may start with the field at fault */
  const markField = (message) => {
    const named = CRON_FIELDS.filter((name) => message && message.toLowerCase().startsWith(`${name}:`)).pop();
    /** @type {NodeListOf<HTMLElement>} */ (legend.querySelectorAll(".cron-part")).forEach((part) => part.classList.toggle("is-invalid", part.dataset.field === named));
  };

  /** @param {Schedule} schedule */
  function showSchedule(schedule) {
    removeSchedule.hidden = !schedule.cron;
    if (!schedule.cron) {
      clear(scheduleStatus, h("p", { class: "muted" }, `No schedule: ${idle}`));
      return;
    }
    cron.input.value = schedule.cron;
    clear(
      scheduleStatus,
      h(
        "p",
        { class: "schedule-next" },
        h("span", { class: "schedule-label" }, "Next run"),
        schedule.next_run_at
          ? h("time", { class: "schedule-when", datetime: schedule.next_run_at, title: `Your time: ${formatDate(schedule.next_run_at)}` }, utc(schedule.next_run_at))
          : h("span", { class: "muted" }, "never"),
        schedule.next_run_at && h("span", { class: "muted" }, " · ", timeCell(schedule.next_run_at)),
      ),
      h(
        "p",
        { class: "schedule-last" },
        h("span", { class: "schedule-label" }, "Last scheduled run"),
        schedule.last_run_at ? timeCell(schedule.last_run_at) : h("span", { class: "muted" }, "none yet"),
      ),
    );
  }

  async function load() {
    try {
      showSchedule(await api.get(path, undefined, { signal }));
    } catch (error) {
      if (isAbortError(error) || signal.aborted) return;
      clear(scheduleStatus, alertBox(messageOf(error), { title: "Could not load the schedule.", retry: load }));
    }
  }

  async function unschedule() {
    setFieldError(cron.input, null);
    markField(null);
    removeSchedule.disabled = true;
    try {
      await api.delete(path);
      cron.input.value = "";
      showSchedule({ cron: null });
      toast(`Schedule removed: ${idle}`);
    } catch (error) {
      setFieldError(cron.input, messageOf(error));
    } finally {
      removeSchedule.disabled = false;
    }
  }

  const form = h(
    "form",
    { class: ["cron-schedule", className], novalidate: true },
    h("h3", {}, "Schedule"),
    cron.el,
    scheduleStatus,
    note && h("p", { class: "field-hint schedule-note" }, note),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = cron.input.value.trim();
    setFieldError(cron.input, null);
    markField(null);
    if (!value) {
      setFieldError(cron.input, "Enter five fields, for example 0 3 * * SUN; use Remove schedule to stop running on a schedule.");
      cron.input.focus();
      return;
    }
    saveSchedule.disabled = true;
    saveSchedule.classList.add("is-busy");
    try {
      /** @type {Schedule} */
      const schedule = await api.put(path, { cron: value });
      showSchedule(schedule);
      toast(schedule.next_run_at ? `Schedule saved. Next run: ${utc(schedule.next_run_at)}.` : "Schedule saved.");
    } catch (error) {
      const message = error instanceof ApiError && error.errors.length ? error.errors.map((item) => item.detail || item.message).join("; ") : messageOf(error);
      setFieldError(cron.input, message);
      markField(message);
      cron.input.focus();
    } finally {
      saveSchedule.disabled = false;
      saveSchedule.classList.remove("is-busy");
    }
  });

  return { el: form, load };
}
