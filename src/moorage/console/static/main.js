// The console's shell: who is signed in, the header, and which page the address shows.

import { api, ApiError, csrf, whenSignedOut } from "./api.js";
import { clear, h, icon } from "./dom.js";
import { alertBox, messageOf } from "./widgets/alert.js";
import { link } from "./widgets/buttons.js";
import { breadcrumbs } from "./widgets/layout.js";
import { emptyState, loading } from "./widgets/placeholders.js";
import * as signIn from "./page-sign-in.js";
import * as registries from "./page-registries.js";
import * as registry from "./page-registry.js";
import * as image from "./page-image.js";
import * as artifact from "./page-artifact.js";
import * as accessKeys from "./page-access-keys.js";
import * as adminGc from "./page-admin-gc.js";
import * as adminUsers from "./page-admin-users.js";
import * as adminProjects from "./page-admin-projects.js";
import * as adminDeployment from "./page-admin-deployment.js";
import * as adminAudit from "./page-admin-audit.js";

/**
 * The signed-in user: who, and their role in each project they are a member of.
 * @typedef {object} Me
 * @property {string} username
 * @property {boolean} is_admin
 * @property {Array<{project: string, role: string}>} projects
 * @property {string[]} permissions what they may do outside any one registry: create_registry, manage_projects, manage_users, gc
 * @property {string} region the region this deployment runs in
 */

/** @typedef {{me: Me | null}} Session */

/**
 * What a page's render() is given.
 * @typedef {object} PageContext
 * @property {Record<string, string>} params the address's segments, by the route's names
 * @property {URLSearchParams} query
 * @property {AbortSignal} signal aborted when the page is left
 * @property {typeof navigate} navigate
 * @property {Session} session
 * @property {(title: string) => void} setTitle
 * @property {() => void} ready call once the page's heading exists, to give it focus
 */

/**
 * The sign-in page is given its own context: no header, and a way back once signed in.
 * @typedef {Omit<PageContext, "ready"> & {onSignedIn: (next: string | null) => Promise<void>}} PublicPageContext
 */

/**
 * @typedef {object} Route
 * @property {string} path
 * @property {{render: (context: any) => Node}} page
 * @property {boolean} [public]
 * @property {string} [nav] which item of the header's navigation is current
 */

const PRODUCT = "moorage";

/**
 * Paths are matched segment by segment; ":name" captures one (percent-decoded) segment.
 * @type {Route[]}
 */
const ROUTES = [
  { path: "/sign-in", page: signIn, public: true },
  { path: "/registries", page: registries, nav: "registries" },
  { path: "/registries/:registry", page: registry, nav: "registries" },
  { path: "/registries/:registry/:tab", page: registry, nav: "registries" },
  { path: "/registries/:registry/images/:image", page: image, nav: "registries" },
  { path: "/registries/:registry/images/:image/artifacts/:reference", page: artifact, nav: "registries" },
  { path: "/access-keys", page: accessKeys, nav: "access-keys" },
  { path: "/admin/users", page: adminUsers, nav: "admin" },
  { path: "/admin/projects", page: adminProjects, nav: "admin" },
  { path: "/admin/gc", page: adminGc, nav: "admin" },
  { path: "/admin/deployment", page: adminDeployment, nav: "admin" },
  { path: "/admin/audit", page: adminAudit, nav: "admin" },
];

/** Addresses that stand for another: the start page, and the first page of a section. */
const REDIRECTS = /** @type {Record<string, string>} */ ({ "/": "/registries", "": "/registries", "/admin": "/admin/gc" });

/** @type {Session} */
const session = { me: null };
/** @type {{controller: AbortController} | null} */
let current = null;
const app = /** @type {HTMLElement} */ (document.getElementById("app"));

/**
 * @param {string} pathname
 * @returns {{route: Route | null, params: Record<string, string>, redirect?: string}}
 */
function match(pathname) {
  const redirect = REDIRECTS[pathname.replace(/(.)\/+$/, "$1")];
  if (redirect) return { route: null, params: {}, redirect };
  const parts = pathname.replace(/\/+$/, "").split("/").slice(1);
  for (const route of ROUTES) {
    const pattern = route.path.split("/").slice(1);
    if (pattern.length !== parts.length) continue;
    /** @type {Record<string, string>} */
    const params = {};
    let ok = true;
    for (let i = 0; i < pattern.length; i += 1) {
      let part;
      try {
        part = decodeURIComponent(parts[i]);
      } catch {
        ok = false;
        break;
      }
      if (pattern[i].startsWith(":")) params[pattern[i].slice(1)] = part;
      else if (pattern[i] !== part) ok = false;
      if (!ok) break;
    }
    if (ok) return { route, params };
  }
  return { route: null, params: {} };
}

/**
 * @param {string} href
 * @param {{replace?: boolean}} [options]
 */
export function navigate(href, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", href);
  else history.pushState(null, "", href);
  render({ focus: true });
}

function currentLocation() {
  return `${location.pathname}${location.search}`;
}

/** @param {string} [reason] */
function signInHref(reason) {
  const here = currentLocation();
  const params = new URLSearchParams();
  if (!here.startsWith("/sign-in") && here !== "/" && here !== "/registries") params.set("next", here);
  if (reason) params.set("reason", reason);
  const text = params.toString();
  return `/sign-in${text ? `?${text}` : ""}`;
}

whenSignedOut((reason) => {
  if (location.pathname.startsWith("/sign-in")) return;
  session.me = null;
  csrf.clear();
  navigate(signInHref(reason), { replace: true });
});

/** @param {HTMLButtonElement} button */
async function signOut(button) {
  button.disabled = true;
  try {
    await api.delete("/session", undefined, { signedOutOk: true });
  } catch {
    // The cookie is dropped either way; nothing more to do.
  }
  csrf.clear();
  session.me = null;
  navigate("/sign-in?signed_out=1", { replace: true });
}

/** @param {string | undefined} nav */
function header(nav) {
  const me = /** @type {Me} */ (session.me);
  /**
   * @param {string} href
   * @param {string} label
   * @param {string} id
   * @param {string} iconName
   */
  const item = (href, label, id, iconName) =>
    h("a", { href, class: ["nav-link", nav === id && "is-active"], "aria-current": nav === id ? "page" : null }, icon(iconName), h("span", {}, label));
  const signOutButton = h(
    "button",
    { type: "button", class: "btn btn-ghost header-signout" },
    icon("signout"),
    h("span", { class: "btn-label" }, "Sign out"),
  );
  signOutButton.addEventListener("click", () => signOut(signOutButton));
  return h(
    "header",
    { class: "app-header" },
    h(
      "div",
      { class: "app-header-inner" },
      h("a", { href: "/registries", class: "brand", "aria-label": `${PRODUCT} home` }, h("span", { class: "brand-mark" }, icon("anchor")), h("span", { class: "brand-name" }, PRODUCT), h("span", { class: "brand-tag" }, "Container Registry")),
      h(
        "nav",
        { class: "app-nav", "aria-label": "Main" },
        item("/registries", "Registries", "registries", "box"),
        item("/access-keys", "Access keys", "access-keys", "key"),
        // For system administrators only; anyone else who opens its address is told so there.
        me.is_admin && item("/admin/gc", "Administration", "admin", "sliders"),
      ),
      h(
        "div",
        { class: "app-user" },
        h("span", { class: "region-chip", title: "Region" }, icon("globe"), h("span", { class: "visually-hidden" }, "Region "), h("span", { class: "region-name" }, me.region)),
        h("span", { class: "user-chip", title: me.is_admin ? "System administrator" : "User" }, icon("user"), h("span", { class: "user-name" }, me.username), me.is_admin && h("span", { class: "user-role" }, "admin")),
        signOutButton,
      ),
    ),
  );
}

function notFound() {
  return h(
    "div",
    { class: "page" },
    breadcrumbs([{ label: "Registries", href: "/registries" }, { label: "Not found" }]),
    h("h1", { tabindex: "-1", class: "visually-hidden" }, "Page not found"),
    emptyState({
      iconName: "search",
      title: "There is no page at this address.",
      body: "Check the address, or start again from the registry list.",
      actions: link("/registries", "Go to registries", "btn btn-primary"),
    }),
  );
}

/** @param {string} title */
function setTitle(title) {
  document.title = title ? `${title} · ${PRODUCT}` : PRODUCT;
}

async function loadMe() {
  try {
    session.me = await api.get("/users/me", undefined, { signedOutOk: true });
  } catch (error) {
    session.me = null;
    if (!(error instanceof ApiError && error.status === 401)) throw error;
  }
  return session.me;
}

/**
 * @param {{focus?: boolean}} [options]
 * @returns {Promise<undefined>}
 */
async function render({ focus = false } = {}) {
  current?.controller.abort();
  // Dialogs belong to the page they were opened on.
  // Taken out of the document first, so one that only its submit button may close stays closed.
  /** @type {NodeListOf<HTMLDialogElement>} */ (document.querySelectorAll("dialog[open]")).forEach((dialog) => {
    dialog.remove();
    dialog.close();
  });
  const controller = new AbortController();
  current = { controller };
  const { route, params, redirect } = match(location.pathname);
  if (redirect) {
    history.replaceState(null, "", redirect);
    return render({ focus });
  }
  // What every page is given; the query is read from the address when the page renders.
  const common = () => ({ params, query: new URLSearchParams(location.search), signal: controller.signal, navigate, session, setTitle });
  if (route && route.public) {
    document.body.classList.add("is-public");
    setTitle("Sign in");
    /** @type {PublicPageContext} */
    const context = {
      ...common(),
      onSignedIn: async (next) => {
        await loadMe();
        navigate(next && next.startsWith("/") && !next.startsWith("//") ? next : "/registries", { replace: true });
      },
    };
    clear(app, route.page.render(context));
    return undefined;
  }
  if (!session.me) {
    clear(app, h("div", { class: "boot" }, loading("Loading the console…")));
    try {
      await loadMe();
    } catch (error) {
      clear(app, h("div", { class: "boot" }, alertBox(messageOf(error), { title: "The console could not start.", retry: () => render() })));
      return undefined;
    }
    if (controller.signal.aborted) return undefined;
    if (!session.me) {
      navigate(signInHref(), { replace: true });
      return undefined;
    }
  }
  document.body.classList.remove("is-public");
  const main = h("main", { id: "main", class: "app-main" });
  clear(app, h("a", { href: "#main", class: "skip-link" }, "Skip to content"), header(route?.nav), main);
  // Pages that fill in later call ready() again, so the heading gets focus once it exists.
  const ready = () => {
    if (!focus || controller.signal.aborted) return;
    const active = document.activeElement;
    if (active && active !== document.body && main.contains(active) && active.tagName !== "H1") return;
    const heading = main.querySelector("h1");
    if (heading instanceof HTMLElement) heading.focus({ preventScroll: true });
  };
  /** @type {PageContext} */
  const context = { ...common(), ready };
  const view = route ? route.page.render(context) : notFound();
  if (!route) setTitle("Not found");
  main.append(view);
  if (focus) window.scrollTo(0, 0);
  ready();
  return undefined;
}

// Links inside the console change the view without reloading the page.
document.addEventListener("click", (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const anchor = event.target instanceof Element ? event.target.closest("a[href]") : null;
  if (!(anchor instanceof HTMLAnchorElement) || anchor.target || anchor.hasAttribute("download")) return;
  const href = anchor.getAttribute("href") || "";
  if (href.startsWith("#")) {
    if (href === "#main") {
      event.preventDefault();
      /** @type {HTMLElement | null} */ (document.querySelector("main h1"))?.focus();
    }
    return;
  }
  const target = new URL(anchor.href, location.href);
  if (target.origin !== location.origin || target.pathname.startsWith("/api/") || target.pathname.startsWith("/static/")) return;
  event.preventDefault();
  if (`${target.pathname}${target.search}` === currentLocation()) return;
  navigate(`${target.pathname}${target.search}`);
});

window.addEventListener("popstate", () => render({ focus: true }));

render();
