// The tabs of the registry page, in order. A tab is one module whose default export is
// { id, label, iconName, render(context) → Node }, where context is
// { registry, session, signal, navigate, refreshRegistry }; `visible(context)` may hide it.

import images from "./tab-images.js";
import members from "./tab-members.js";
import protection from "./tab-protection.js";
import cleanup from "./tab-cleanup.js";
import webhooks from "./tab-webhooks.js";
import replication from "./tab-replication.js";

/**
 * @typedef {object} TabContext
 * @property {import("./registry-actions.js").Registry} registry
 * @property {import("./main.js").Session} session
 * @property {AbortSignal} signal gone with the page
 * @property {(href: string, options?: {replace?: boolean}) => void} navigate
 * @property {() => Promise<void>} refreshRegistry loads the registry's summary again
 */

/**
 * @typedef {object} RegistryTab
 * @property {string} id
 * @property {string} label
 * @property {string} iconName
 * @property {(context: TabContext) => Node} render
 * @property {(context: TabContext) => boolean} [visible]
 */

/** @type {RegistryTab[]} */
export const REGISTRY_TABS = [images, members, protection, cleanup, webhooks, replication];
