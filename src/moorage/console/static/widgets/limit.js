// A limit on how many of something there may be: "3 of 5 keys", a note that says why, and
// the button that adds one disabled at the limit.

import { h, uid } from "../dom.js";

/**
 * @typedef {object} LimitOptions
 * @property {number} max
 * @property {HTMLButtonElement} button the button that adds one
 * @property {(total: number) => string} counter the counter's words: "3 of 5 keys"
 * @property {(full: boolean) => string} note the note's words, at the limit or below it
 * @property {string} [title] the counter's tooltip
 * @property {string} [noteId] the note's id (one is made up if not given)
 * @property {boolean} [hideNoteBelowLimit] below the limit the counter says enough
 */

/**
 * Call update(total) whenever the total is known; place `counter` and `note` where they belong.
 * @param {LimitOptions} options
 */
export function limitCounter({ max, button, counter: counterWords, note: noteWords, title, noteId = uid("limit-note"), hideNoteBelowLimit = false }) {
  const counter = h("span", { class: "key-counter", "aria-live": "polite", title });
  const note = h("p", { class: "limit-note", id: noteId });
  button.setAttribute("aria-describedby", noteId);
  return {
    counter,
    note,
    /** @param {number} total */
    update(total) {
      const full = total >= max;
      counter.textContent = counterWords(total);
      button.disabled = full;
      note.textContent = noteWords(full);
      note.classList.toggle("is-full", full);
      if (hideNoteBelowLimit) note.hidden = !full;
    },
  };
}
