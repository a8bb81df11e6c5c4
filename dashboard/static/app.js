// VBP Monitor dashboard: polls /api/state every 2 s and draws tables and inline SVG charts.
"use strict";
const RULES = {
  "quota.quarterly_completion": "季度完成率", "quota.catch_up": "累计补齐", "quota.non_winning_ratio": "非中选超量",
  "quota.year_end": "年度未完成", "settlement.payment_overdue": "回款逾期", "settlement.overdue_after_warning": "预警后仍未回款",
  "settlement.prepayment": "预付", "supply.production_stop": "停产", "supply.low_inventory": "库存不足",
  "supply.shortfall_forecast": "产能不足预报", "supply.unfilled_orders": "订单未配送", "supply.consistency_gate": "一致性评价",
  "supply.distributor_limit": "配送企业数", "supply.missing_monthly_report": "月报缺报",
  "calendar.arrangement_missing": "节假日安排缺失",
};
const ACTIONS = {
  suspend_monthly_settlement: "暂停医保月结算", resume_monthly_settlement: "恢复医保月结算",
  reduce_next_year_budget: "核减下年度医保额度", suspend_fund_disbursement: "暂缓拨付医保基金",
  resume_fund_disbursement: "恢复拨付医保基金", release_prepayment: "拨付预付款",
  suspend_trading: "暂停挂网交易", restore_trading: "恢复挂网交易",
};
const LEVELS = {institution: "机构", city: "市州", province: "省", alliance: "联盟", national: "国家"};
const SEVERITY = {info: "提示", warning: "预警", critical: "严重"};
const OUTCOMES = {sent: "已送达", failed: "失败", retrying: "重试中", given_up: "已放弃", suppressed: "已抑制"};
const KINDS = {public: "公立", military: "军队", private: "民营", pharmacy: "药店"};
const REGIONS = {"520000": "贵州省", "500000": "重庆市", "530000": "云南省", "610100": "西安市", "140000": "山西省"};
const COLORS = {ok: "#2e9d5b", low: "#e0a526", bad: "#d0453b", none: "#c9d1da", cur: "#4a86c5", accent: "#1f5fa8"};

let state = null, quarter = null;
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
const pct = (r) => r == null ? "—" : (r * 100).toFixed(1) + "%";
const band = (r) => r == null ? "none" : r < state.policy.suspend_below ? "bad" : r < state.policy.warn_below ? "low" : "ok";
const phase = (q) => (state.phases[q] || {}).phase || "closed";
// A quarter still running is compared with its time-elapsed pace (序时进度), not yet judged.
const cls = (r, q) => r == null ? "none" : phase(q) === "current" ? "cur" : band(r);
const rate = (r, q) => `<span class="rate ${cls(r, q)}">${pct(r)}</span>`;
const rule = (r) => `${esc(RULES[r] || r)}<br><small class="muted">${esc(r)}</small>`;
const clause = (c) => c ? `<span class="clause">${esc(c)}</span>` : "—";
const day = (t) => esc(String(t || "").slice(0, 10));
const cityName = (code) => (state.cities.find((c) => c.code === code) || {}).short || state.regions[code] || REGIONS[code] || code;

async function refresh() {
  try {
    const response = await fetch("/api/state", {cache: "no-store"});
    state = await response.json();
    render();
    $("feed-state").textContent = state.caught_up ? "" : " · 正在读取历史数据 catching up…";
  } catch (error) {
    $("feed-state").textContent = " · 连接中断 disconnected";
  }
}

function render() {
  $("province-name").textContent = state.province.name;
  $("policy-doc").textContent = `${state.policy.document} (${state.policy.name})`;
  $("as-of").textContent = state.as_of || "—";
  $("quota-ref").textContent = `依据 ${state.policy.quota_ref}`;
  document.querySelectorAll(".warn-line").forEach((e) => e.textContent = Math.round(state.policy.warn_below * 100));
  document.querySelectorAll(".suspend-line").forEach((e) => e.textContent = Math.round(state.policy.suspend_below * 100));
  for (const k of ["institutions", "agreements", "warnings", "escalations", "decisions", "notifications"]) {
    $("kpi-" + k).textContent = state.totals[k].toLocaleString();
  }
  if (!quarter || !state.quarters.includes(quarter)) {
    const closed = state.quarters.filter((q) => phase(q) === "closed");
    quarter = closed[closed.length - 1] || state.quarters[0] || null;
  }
  renderOps(); renderCities(); renderInstitutions(); renderWarnings(); renderDecisions(); renderShortages(); renderOverdue(); renderAlliance(); renderAlerts();
}

// Warnings about the deployment itself (subject_kind "jurisdiction"), shown above everything.
function renderOps() {
  const items = state.jurisdiction_warnings || [];
  $("ops").hidden = !items.length;
  $("ops").innerHTML = items.map((w) =>
    `<p><b>${esc(SEVERITY[w.severity] || w.severity)} · ${esc(RULES[w.rule] || w.rule)} ${esc(w.period || "")}</b> ` +
    `${esc(w.message)} ${clause(w.policy_ref)}</p>`).join("");
}

function renderCities() {
  $("quarter-buttons").innerHTML = state.quarters.map((q) =>
    `<button class="${q === quarter ? "on" : ""}" data-q="${q}">${q.slice(5)}${phase(q) === "current" ? " 进行中" : ""}</button>`).join("");
  $("quarter-buttons").querySelectorAll("button").forEach((b) => b.onclick = () => { quarter = b.dataset.q; render(); });
  // Tile map: each prefecture at its rough position, coloured by the chosen quarter's completion.
  const tiles = state.cities.map((c) => {
    const [x, y] = [10 + c.grid[0] * 106, 10 + c.grid[1] * 96], r = quarter ? c.rates[quarter] : null;
    return `<g data-city="${c.code}"><rect x="${x}" y="${y}" width="100" height="88" rx="8" fill="${COLORS[cls(r, quarter)]}"/>
      <text x="${x + 50}" y="${y + 30}" text-anchor="middle" fill="#fff" font-size="15" font-weight="bold">${esc(c.short)}</text>
      <text x="${x + 50}" y="${y + 56}" text-anchor="middle" fill="#fff" font-size="17">${pct(r)}</text>
      <text x="${x + 50}" y="${y + 76}" text-anchor="middle" fill="#fff" font-size="11">${c.suspended ? "暂停 " + c.suspended : ""}</text></g>`;
  }).join("");
  $("map").innerHTML = tiles + `<text x="434" y="296" text-anchor="end" font-size="11" fill="#6b7785">${esc(quarter || "")} 示意图 schematic</text>`;
  $("city-table").querySelector("thead").innerHTML = `<tr><th>市州 City</th><th>代码</th>` +
    state.quarters.map((q) => `<th class="num">${q}${phase(q) === "current" ? `<br><small>序时 ${pct(state.phases[q].pace)}</small>` : ""}</th>`).join("") + `<th class="num">机构</th><th class="num">预警</th><th class="num">暂停月结算</th></tr>`;
  $("city-table").querySelector("tbody").innerHTML = state.cities.map((c) =>
    `<tr data-city="${c.code}"><td>${esc(c.name)}</td><td>${c.code}</td>` +
    state.quarters.map((q) => `<td class="num" data-q="${q}">${rate(c.rates[q], q)}</td>`).join("") +
    `<td class="num">${c.institutions}</td><td class="num">${c.warnings}</td><td class="num">${c.suspended}</td></tr>`).join("");
}

function bars(rates) {
  // Four quarters side by side, with the warning and suspension thresholds as lines.
  const w = 132, h = 30, qs = state.quarters, bw = w / Math.max(qs.length, 4);
  const y = (r) => h - Math.min(r, 1.5) / 1.5 * h;
  const rects = qs.map((q, i) => rates[q] == null ? "" :
    `<rect x="${i * bw + 2}" y="${y(rates[q])}" width="${bw - 4}" height="${h - y(rates[q])}" fill="${COLORS[cls(rates[q], q)]}"><title>${q} ${pct(rates[q])}</title></rect>`).join("");
  return `<svg width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">${rects}
    <line x1="0" x2="${w}" y1="${y(state.policy.warn_below)}" y2="${y(state.policy.warn_below)}" stroke="${COLORS.low}" stroke-dasharray="3 2"/>
    <line x1="0" x2="${w}" y1="${y(state.policy.suspend_below)}" y2="${y(state.policy.suspend_below)}" stroke="${COLORS.bad}" stroke-dasharray="3 2"/></svg>`;
}

function renderInstitutions() {
  const select = $("city-filter");
  if (select.options.length === 1) state.cities.forEach((c) => select.add(new Option(c.name, c.code)));
  const city = select.value, text = $("inst-filter").value.trim();
  const rows = state.institutions.filter((i) => (!city || i.city_code === city) && (!text || i.name.includes(text) || i.institution_id.includes(text)));
  const shown = rows.slice(0, 25);
  $("inst-table").querySelector("thead").innerHTML = `<tr><th>机构 Institution</th><th>市州</th><th>类别</th>` +
    state.quarters.map((q) => `<th class="num">${q.slice(5)}</th>`).join("") + `<th>季度走势 Quarters</th><th class="num">预警</th><th>状态 Status</th></tr>`;
  $("inst-table").querySelector("tbody").innerHTML = shown.map((i) => {
    const s = i.status, badges = [];
    if (s.monthly_settlement === true) badges.push(`<span class="badge suspended">暂停月结算</span>`);
    if (s.monthly_settlement === false) badges.push(`<span class="badge resumed">已恢复月结算</span>`);
    if (s.fund_disbursement === true) badges.push(`<span class="badge suspended">暂缓拨付</span>`);
    if (s.fund_disbursement === false) badges.push(`<span class="badge resumed">已恢复拨付</span>`);
    return `<tr data-institution="${i.institution_id}"><td>${esc(i.name)}<br><small class="muted">${i.institution_id}</small></td>
      <td>${esc(cityName(i.city_code))}</td><td>${esc(KINDS[i.kind] || i.kind || "")}</td>` +
      state.quarters.map((q) => `<td class="num" data-q="${q}">${rate(i.rates[q], q)}</td>`).join("") +
      `<td>${bars(i.rates)}</td><td class="num">${i.warnings}</td><td>${badges.join("")}</td></tr>`;
  }).join("");
  $("inst-more").textContent = `${shown.length} / ${rows.length} 家机构，按风险排序 (worst first)`;
}

function hbars(svg, groups, labels, palette) {
  // Horizontal stacked bars: one row per key of `groups`, segments per sub-key.
  const keys = Object.keys(groups), max = Math.max(1, ...keys.map((k) => Object.values(groups[k]).reduce((a, b) => a + b, 0)));
  const rowH = 22, left = 150, width = 420;
  let out = "";
  keys.forEach((k, i) => {
    let x = left;
    out += `<text x="${left - 6}" y="${i * rowH + 15}" text-anchor="end" font-size="12">${esc(labels(k))}</text>`;
    for (const [sub, n] of Object.entries(groups[k])) {
      const w = n / max * width;
      out += `<rect x="${x}" y="${i * rowH + 3}" width="${w}" height="${rowH - 6}" fill="${palette(sub)}"><title>${esc(sub)}: ${n}</title></rect>`;
      x += w;
    }
    const total = Object.values(groups[k]).reduce((a, b) => a + b, 0);
    out += `<text x="${x + 4}" y="${i * rowH + 15}" font-size="12" data-count="${esc(k)}">${total}</text>`;
  });
  svg.setAttribute("viewBox", `0 0 620 ${Math.max(rowH, keys.length * rowH)}`);
  svg.innerHTML = out || `<text x="10" y="15" font-size="12" fill="#6b7785">暂无 none yet</text>`;
}

function renderWarnings() {
  hbars($("warn-chart"), state.warnings_by_rule, (k) => RULES[k] || k,
        (s) => ({critical: COLORS.bad, warning: COLORS.low}[s] || "#7d8a99"));
  $("warn-table").querySelector("tbody").innerHTML = state.warnings.slice(0, 60).map((w) =>
    `<tr class="sev-${w.severity}" data-warning="${esc(w.warning_id)}"><td>${day(w.time)}</td><td>${rule(w.rule)}</td>
     <td><span class="badge ${w.severity}">${SEVERITY[w.severity] || w.severity}</span></td>
     <td>${esc(w.subject_name || w.subject_id)}<br><small class="muted">${esc(w.subject_id)}</small></td><td>${esc(w.period || "")}</td>
     <td>${clause(w.policy_ref)}</td><td>${esc(w.message)}</td></tr>`).join("");
}

function renderDecisions() {
  hbars($("dec-chart"), state.decisions_by_rule, (k) => RULES[k] || k,
        (a) => a.startsWith("resume") || a.startsWith("restore") || a === "release_prepayment" ? COLORS.ok : COLORS.bad);
  $("dec-table").querySelector("tbody").innerHTML = state.decisions.slice(0, 80).map((d) =>
    `<tr data-decision="${esc(d.decision_id)}" data-action="${d.action}"><td>${esc(d.effective_from)}</td>
     <td>${esc(ACTIONS[d.action] || d.action)}<br><small class="muted">${d.action}</small></td>
     <td>${esc(d.subject_name || d.subject_id)}<br><small class="muted">${esc(d.subject_id)}</small></td>
     <td>${rule(d.rule)}</td><td>${clause(d.policy_ref)}</td><td class="num">${(d.caused_by || []).length} 条预警</td>
     <td class="num">${d.amount ? "¥" + Number(d.amount).toLocaleString() : ""}</td></tr>`).join("");
}

function renderShortages() {
  $("esc-table").querySelector("tbody").innerHTML = state.escalations.slice(0, 60).map((e) =>
    `<tr data-escalation="${esc(e.escalation_id)}"><td>${day(e.time)}</td><td>${esc(e.generic_name)}<br><small class="muted">${e.product_code}</small></td>
     <td><span class="badge level">${LEVELS[e.level] || e.level}</span> ${e.level}<br>${rule(e.rule)}</td>
     <td>${esc(cityName(e.region_code))}</td><td>${esc(e.reason)}</td>
     <td><ul class="alts">${(e.alternatives || []).map((a) => `<li>${esc(REGIONS[a.province] || a.province)} ${esc(a.name || "")}
        <small class="muted">${a.product_code} · ${a.manufacturer_id}</small></li>`).join("") || "—"}</ul></td>
     <td>${clause(e.policy_ref)}</td></tr>`).join("");
}

function renderOverdue() {
  const open = state.overdue.filter((o) => !o.paid_on);
  const amount = open.reduce((s, o) => s + Number(o.amount || 0), 0);
  $("overdue-summary").textContent = `未回款 open: ${open.length} 笔 ¥${amount.toLocaleString(undefined, {maximumFractionDigits: 2})} · 已回款 paid after warning: ${state.overdue.length - open.length}`;
  $("overdue-table").querySelector("tbody").innerHTML = state.overdue.slice(0, 80).map((o) =>
    `<tr data-delivery="${esc(o.delivery_id)}"><td>${esc(o.name || o.institution_id)}</td><td>${esc(o.delivery_id)}</td>
     <td class="num">${Number(o.amount || 0).toLocaleString()}</td><td>${esc(o.accepted_on)}</td><td>${esc(o.due_date)}</td>
     <td>${esc(o.warned)}</td><td>${o.paid_on ? esc(o.paid_on) : '<span class="badge critical">未回款</span>'}</td></tr>`).join("");
}

function completionBars(rows) {
  // One bar per generic name: the partner's ordered / target over its cities for its latest month.
  if (!rows.length) return `<p class="muted">暂无月度进度 no monthly summary yet</p>`;
  const rowH = 18, left = 150, width = 240, max = 1.5;
  const out = rows.map((c, i) => {
    const r = c.completion_rate, w = r == null ? 0 : Math.min(r, max) / max * width;
    return `<g data-generic="${esc(c.generic_name)}"><text x="${left - 6}" y="${i * rowH + 13}" text-anchor="end" font-size="12">${esc(c.generic_name)}</text>
      <rect x="${left}" y="${i * rowH + 3}" width="${w}" height="${rowH - 6}" fill="${COLORS.accent}"><title>${esc(c.generic_name)}: ${c.ordered_quantity.toLocaleString()} / ${c.target_quantity.toLocaleString()} (${c.cities} 市州 cities)</title></rect>
      <text x="${left + w + 4}" y="${i * rowH + 13}" font-size="12" data-rate>${pct(r)}</text></g>`;
  }).join("");
  const one = left + width / max, h = rows.length * rowH;
  return `<svg class="bars" viewBox="0 0 460 ${h + 4}">${out}
    <line x1="${one}" x2="${one}" y1="0" y2="${h}" stroke="${COLORS.ok}" stroke-dasharray="3 2"><title>100%</title></line></svg>`;
}

function renderAlliance() {
  const partners = state.alliance || [];
  $("partners").innerHTML = partners.map((p) => {
    const name = p.name || REGIONS[p.province] || p.province;
    const shortages = p.shortages.slice(0, 10).map((e) =>
      `<li data-escalation="${esc(e.escalation_id)}"><span class="badge level">${esc(LEVELS[e.level] || e.level)}</span> ${esc(e.level)}
        ${esc(e.generic_name)} <small class="muted">${esc(e.product_code)} · ${esc(RULES[e.rule] || e.rule)} · ${day(e.time)}</small></li>`).join("");
    const suspended = p.trading_suspended.map((t) =>
      `<li><span class="badge suspended">暂停挂网交易</span> ${esc(t.name || t.product_code)} <small class="muted">${esc(t.product_code)} · ${esc(t.effective_from)}</small></li>`).join("");
    return `<div class="partner" data-partner="${esc(p.province)}">
      <h3>${esc(name)} <small>${esc(p.province)}</small>
        <span class="facts">月份 Month <b>${esc(p.month || "—")}</b> · 中选产品可供 Winning products
          <b data-winning>${p.winning_products}</b> · 短缺 Shortages <b data-shortages>${p.shortages.length}</b></span></h3>
      <div class="muted">完成率（按通用名） Completion by generic name</div>
      ${completionBars(p.completion)}
      <div class="muted">当前短缺 Current shortages</div>
      <ul>${shortages || `<li class="muted">无 none</li>`}</ul>
      ${suspended ? `<div class="muted">暂停挂网交易 Trading suspended</div><ul>${suspended}</ul>` : ""}
    </div>`;
  }).join("") || `<p class="muted">暂无联盟地区数据 nothing from alliance partners yet</p>`;
}

function renderAlerts() {
  const n = state.notifications;
  const groups = {};
  for (const [receiver, outcomes] of Object.entries(n.by_receiver)) groups[receiver] = outcomes;
  if (!Object.keys(groups).length && Object.keys(n.by_outcome).length) groups["all"] = n.by_outcome;
  hbars($("note-chart"), groups, (k) => k,
        (o) => ({sent: COLORS.ok, suppressed: "#7d8a99", retrying: COLORS.low, failed: COLORS.bad, given_up: "#8b1e16"}[o] || COLORS.accent));
  $("note-table").querySelector("tbody").innerHTML = n.recent.slice(0, 60).map((x) =>
    `<tr data-alert="${esc(x.alert_id)}"><td>${esc(String(x.at).replace("T", " ").slice(0, 19))}</td><td>${esc(x.alert_id)}</td>
     <td>${esc(x.receiver)}</td><td class="num">${x.attempt}</td><td>${esc(OUTCOMES[x.outcome] || x.outcome)} <small class="muted">${x.outcome}</small></td>
     <td class="num">${x.status_code ?? ""}</td></tr>`).join("") ||
    `<tr><td colspan="6" class="muted">暂无通知 no notifications yet (${n.alerts} alerts)</td></tr>`;
}

$("city-filter").onchange = () => state && renderInstitutions();
$("inst-filter").oninput = () => state && renderInstitutions();
refresh();
setInterval(refresh, 2000);
