// Charts drawn by hand (DOM and SVG, no library): big number, bar, line and table, plus the messages
// (loading, empty, error) shown in their place. Text goes in with textContent only, never as markup,
// and nothing uses a style attribute: the page's CSP allows neither inline scripts nor inline styles.

const SVG = "http://www.w3.org/2000/svg";
const NUMERIC = /^(tinyint|smallint|integer|int|bigint|hugeint|ubigint|uinteger|real|float|double|decimal|numeric|number|int\d+|uint\d+|float\d+)/i;
const INTEGER = /^(tinyint|smallint|integer|int|bigint|hugeint|ubigint|uinteger|int\d+|uint\d+)/i;
const grouped = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });
const money = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function svg(tag, attributes) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

function isNumericColumn(column) {
  return NUMERIC.test(String(column.type || ""));
}

export function formatValue(value, column) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") {
    if (INTEGER.test(String(column?.type || ""))) return String(value);
    return /^(decimal|numeric)/i.test(String(column?.type || "")) ? money.format(value) : grouped.format(value);
  }
  return String(value);
}

export function renderMessage({ kind, title, detail = "", code = "", onRetry = null }) {
  const box = element("div", `status status-${kind}`);
  box.setAttribute("role", kind === "error" ? "alert" : "status");
  box.append(element("p", "status-title", title));
  if (detail) box.append(element("p", "status-detail", detail));
  if (code) box.append(element("p", "status-code", `Reason: ${code}`));
  if (onRetry) {
    const button = element("button", "status-retry", "Try again");
    button.type = "button";
    button.addEventListener("click", onRetry);
    box.append(button);
  }
  return box;
}

export function renderChart(body, chart, data) {
  const rows = Array.isArray(data.rows) ? data.rows : [];
  const columns = Array.isArray(data.columns) ? data.columns : [];
  // An aggregate over no rows is one row of nulls: that is no data too.
  if (rows.length === 0 || (chart.viz_type === "big_number" && rows[0].every((value) => value === null))) {
    body.replaceChildren(renderMessage({ kind: "empty", title: "No data", detail: "Nothing matches the current filters." }));
    return;
  }
  const draw = { big_number: bigNumber, bar, line, table }[chart.viz_type] ?? table;
  body.replaceChildren(draw(columns, rows, chart));
}

function metricIndexes(columns) {
  const indexes = columns.map((column, index) => (isNumericColumn(column) ? index : -1)).filter((i) => i >= 0);
  return indexes.length > 0 ? indexes : [columns.length - 1];
}

function bigNumber(columns, rows) {
  // Large and rounded ("6.1M") so that it reads at a glance in any tile; the exact value below it.
  const index = metricIndexes(columns)[0];
  const value = rows[0][index];
  const box = element("div", "big-number");
  const headline = typeof value === "number" && Math.abs(value) >= 10_000 ? compact.format(value) : formatValue(value, columns[index]);
  box.append(element("span", "big-number-value", headline));
  box.append(element("span", "big-number-exact", `${formatValue(value, columns[index])} ${columns[index].name}`));
  return box;
}

function bar(columns, rows) {
  // Horizontal bars: labels stay readable at any width.
  const metric = metricIndexes(columns).find((i) => i !== 0) ?? columns.length - 1;
  const values = rows.map((row) => Number(row[metric]) || 0);
  const largest = Math.max(...values.map(Math.abs), 0) || 1;
  const list = element("div", "bars");
  list.setAttribute("role", "list");
  list.setAttribute("aria-label", `${columns[metric].name} by ${columns[0].name}`);
  rows.forEach((row, i) => {
    const item = element("div", "bar-row");
    item.setAttribute("role", "listitem");
    const track = element("span", "bar-track");
    const fill = element("span", "bar-fill");
    fill.style.width = `${(Math.abs(values[i]) / largest) * 100}%`;
    track.append(fill);
    item.append(
      element("span", "bar-label", formatValue(row[0], columns[0])),
      track,
      element("span", "bar-value", formatValue(row[metric], columns[metric])),
    );
    list.append(item);
  });
  return list;
}

function line(columns, rows) {
  // One small chart per metric, sharing the x axis: metrics of different scales stay readable.
  const box = element("div", "lines");
  const width = 100;
  const height = 32;
  const xs = rows.map((_, i) => (rows.length === 1 ? width / 2 : (i / (rows.length - 1)) * width));
  for (const index of metricIndexes(columns).filter((i) => i !== 0)) {
    const values = rows.map((row) => Number(row[index]) || 0);
    const low = Math.min(...values, 0);
    const high = Math.max(...values) || 1;
    const ys = values.map((v) => height - ((v - low) / (high - low || 1)) * (height - 2) - 1);
    const points = xs.map((x, i) => `${x.toFixed(2)},${ys[i].toFixed(2)}`);
    const series = element("div", "series");
    const head = element("div", "series-head");
    head.append(
      element("span", "series-name", columns[index].name),
      element("span", "series-range", `max ${compact.format(high)}`),
    );
    const chart = svg("svg", {
      viewBox: `0 0 ${width} ${height}`,
      preserveAspectRatio: "none",
      class: "series-chart",
      role: "img",
      "aria-label": `${columns[index].name} by ${columns[0].name}`,
    });
    chart.append(
      svg("polygon", { points: `0,${height} ${points.join(" ")} ${width},${height}`, class: "series-area" }),
      svg("polyline", { points: points.join(" "), class: "series-line", "vector-effect": "non-scaling-stroke" }),
    );
    series.append(head, chart);
    box.append(series);
  }
  const axis = element("div", "series-axis");
  axis.append(
    element("span", "", formatValue(rows[0][0], columns[0])),
    element("span", "", formatValue(rows[rows.length - 1][0], columns[0])),
  );
  box.append(axis);
  return box;
}

function table(columns, rows) {
  const wrap = element("div", "table-wrap");
  const grid = element("table", "data-table");
  const head = element("thead");
  const headRow = element("tr");
  for (const column of columns) {
    const cell = element("th", isNumericColumn(column) ? "num" : "", column.name);
    cell.scope = "col";
    headRow.append(cell);
  }
  head.append(headRow);
  const body = element("tbody");
  for (const row of rows) {
    const tr = element("tr");
    columns.forEach((column, i) => tr.append(element("td", isNumericColumn(column) ? "num" : "", formatValue(row[i], column))));
    body.append(tr);
  }
  grid.append(head, body);
  wrap.append(grid);
  return wrap;
}
