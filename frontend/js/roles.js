// What each role may do in the pages (pure, no DOM). The API enforces the same rules; the pages only hide
// or disable what a role cannot use, so nobody is offered a button that can only fail.

export const ROLES = ["viewer", "responder", "admin"];

export const ROLE_INFO = {
  viewer: { label: "Viewer", badge: "text-bg-secondary" },
  responder: { label: "Responder", badge: "text-bg-primary" },
  admin: { label: "Admin", badge: "text-bg-danger" },
};

function rank(user) {
  return ROLES.indexOf(user?.role); // -1 for no user or an unknown role: nothing is allowed
}

/** The least role each action needs. */
const NEEDS = {
  create: "responder",
  edit: "responder",
  note: "responder",
  archive: "admin",
  restore: "admin",
  viewArchived: "admin",
  manageUsers: "admin",
  readAudit: "admin",
};

/** can(user, "edit") -> true when the user's role allows it. */
export function can(user, action) {
  const needed = NEEDS[action];
  return needed !== undefined && rank(user) >= ROLES.indexOf(needed);
}

export function roleLabel(role) {
  return ROLE_INFO[role]?.label ?? String(role ?? "");
}

/** "AA" for "Ada Admin", "V" for "vic": up to two initials. */
export function initials(name) {
  const words = String(name ?? "").trim().split(/\s+/u).filter(Boolean);
  const letters = words.slice(0, 2).map((word) => [...word][0].toUpperCase());
  return letters.join("") || "?";
}
