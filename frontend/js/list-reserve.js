// Runs before the first paint (a classic script, not deferred): keeps room in the list for the page of rows the
// address asks for (its `limit`), so that nothing below moves when they arrive. index.js keeps it up to date.
(function reserveListRows() {
  const limit = Number(new URLSearchParams(location.search).get("limit"));
  const rows = [10, 20, 50, 100].includes(limit) ? limit : 20;
  document.getElementById("list-body").style.setProperty("--reserved-rows", String(rows));
})();
