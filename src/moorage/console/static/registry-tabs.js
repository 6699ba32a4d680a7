// The tabs of the registry page, in order. A tab is one module whose default export is
// { id, label, iconName, render(context) → Node }, where context is
// { registry, session, signal, navigate, refreshRegistry }; `visible(context)` may hide it.

import images from "./tab-images.js";
import members from "./tab-members.js";
import protection from "./tab-protection.js";
import cleanup from "./tab-cleanup.js";
import webhooks from "./tab-webhooks.js";

export const REGISTRY_TABS = [images, members, protection, cleanup, webhooks];
