/* The netspec diagram page: draws the data of compiler/to_html.py:page_data with cytoscape + dagre.
 *
 * The data is the whole scope tree. `state.open` says which groups and runs are opened into
 * frames; everything else that is not inside a closed one is a box. Each redraw rebuilds the
 * visible boxes and frames, folds the layer edges onto the boxes that hold their ends, marks
 * skips with diagram_view's rule, and lays the result out again, keeping the box that was
 * opened or closed where it was on screen.
 *
 * window.netspecPage exposes the state to tests and to the curious: boxes(), frames(),
 * find(path), toggle(path), setDepth(d).
 */
(function () {
  "use strict";

  var DATA = JSON.parse(document.getElementById("netspec-data").textContent);
  var CONFIG = JSON.parse(document.getElementById("netspec-config").textContent);
  var FONT = "11px Helvetica, Arial, sans-serif";
  var LINE = 14;
  var MIN_FIT_ZOOM = 0.6;

  var state = {
    data: DATA,
    open: new Set(),
    depth: DATA ? DATA.depth : null,
    rankdir: CONFIG.rankdir || "TB",
    version: CONFIG.live ? CONFIG.live.version : 0,
    boxes: [],
    selected: null
  };

  function $(id) { return document.getElementById(id); }

  function esc(text) {
    return String(text).replace(/[&<>"]/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;"}[c];
    });
  }

  // ------------------------------------------------------------ what is visible
  function isContainer(it) { return it.kind === "group" || it.kind === "run"; }

  function defaultOpen(data, depth) {
    var open = new Set();
    Object.keys(data.items).forEach(function (id) {
      var it = data.items[id];
      if (it.kind === "group" && (depth === null || it.scope === "seq" || it.bdepth <= depth)) open.add(id);
      if (it.kind === "run" && (depth === null || it.level < depth)) open.add(id);
    });
    return open;
  }

  var ctx = document.createElement("canvas").getContext("2d");
  function boxSize(lines) {
    ctx.font = FONT;
    var w = 0;
    lines.forEach(function (l) { w = Math.max(w, ctx.measureText(l).width); });
    return {w: Math.ceil(w) + 18, h: lines.length * LINE + 10};
  }

  function edgeText(shapes) {
    if (shapes.length === 1) return shapes[0];
    if (shapes.every(function (s) { return s === shapes[0]; })) return shapes.length + " x " + shapes[0];
    return shapes.slice(0, 3).join(", ") + (shapes.length > 3 ? ", ..." : "");
  }

  /* Cytoscape elements for the current data and open set. */
  function elements() {
    var data = state.data, items = data.items, colors = data.colors;
    var nodes = [], boxOf = {}, boxes = [], frameOf = {}, kids = {"": []};

    function visit(id, parent, owner) {
      var it = items[id], frame = isContainer(it) && state.open.has(id);
      if (owner === null && !frame) owner = id;
      boxOf[id] = owner === null ? id : owner;
      if (owner === null || owner === id) {
        var classes = [it.kind];
        if (isContainer(it)) classes.push("block", it.scope || "run");
        if (it.kind === "input" || it.kind === "output") classes.push("io");
        if (it.train) classes.push("train");
        var d = {id: id, path: it.path, order: it.order, color: colors[it.family] || colors.other,
                 text: frame ? it.frame : it.label.join("\n")};
        if (parent !== null) d.parent = parent;
        frameOf[id] = parent;
        (kids[parent === null ? "" : parent] = kids[parent === null ? "" : parent] || []).push(id);
        if (!frame) {
          var size = boxSize(it.label);
          d.w = size.w;
          d.h = size.h;
          boxes.push(id);
        }
        nodes.push({group: "nodes", data: d, classes: classes.join(" ")});
      }
      (it.children || []).forEach(function (c) { visit(c, frame ? id : parent, owner); });
    }
    data.roots.forEach(function (r) { visit(r, null, null); });

    var folded = new Map();
    data.edges.forEach(function (e) {
      var a = boxOf[e[0]], b = boxOf[e[1]];
      if (a === b) return;
      var key = a + ">" + b, f = folded.get(key);
      if (!f) folded.set(key, f = {src: a, dst: b, shapes: [], sources: new Set()});
      if (!f.sources.has(e[0])) { f.sources.add(e[0]); f.shapes.push(e[2]); }
    });
    var edges = Array.from(folded.values());

    // diagram_view's skip rule: longest-path ranks in execution order; a skip jumps more than
    // one rank and leaves a box that also feeds something else.
    var order = boxes.slice().sort(function (a, b) { return items[a].order - items[b].order; });
    var rank = {}, incoming = {}, outDegree = {};
    edges.forEach(function (e) {
      (incoming[e.dst] = incoming[e.dst] || []).push(e);
      outDegree[e.src] = (outDegree[e.src] || 0) + 1;
    });
    order.forEach(function (b) {
      rank[b] = 0;
      (incoming[b] || []).forEach(function (e) { rank[b] = Math.max(rank[b], (rank[e.src] || 0) + 1); });
    });
    var out = nodes;
    edges.forEach(function (e, i) {
      var classes = [];
      if (rank[e.dst] - rank[e.src] > 1 && outDegree[e.src] > 1) classes.push("skip");
      if (items[e.src].train || items[e.dst].train) classes.push("train");
      out.push({group: "edges", classes: classes.join(" "),
                data: {id: "e" + i, source: e.src, target: e.dst, text: edgeText(e.shapes),
                       order: items[e.src].order}});
    });
    state.boxes = boxes;
    state.tree = {frameOf: frameOf, kids: kids, edges: edges, size: {}};
    nodes.forEach(function (n) { if (n.data.w) state.tree.size[n.data.id] = {w: n.data.w, h: n.data.h}; });
    return out;
  }

  // ------------------------------------------------------------ layout, inside out
  /* dagre with compound nodes takes seconds for a few hundred boxes (its border chains grow with
   * every frame and rank), so each frame is laid out on its own, innermost first, with dagre on a
   * plain graph: its direct children (an open child frame is one node of that frame's size) and
   * the edges between them. The parent then places the frame as one node. */
  var PAD = 12, LABEL = 16;
  var scratch = cytoscape({headless: true, styleEnabled: true, style: [
    {selector: "node", style: {"shape": "rectangle", "width": "data(w)", "height": "data(h)"}}]});

  function layoutTree() {
    var t = state.tree, items = state.data.items, local = {};
    // Each edge joins, in the innermost frame holding both ends, the two children that hold them.
    function chain(id) { var c = []; for (var x = id; x !== null; x = t.frameOf[x]) c.unshift(x); return c; }
    t.edges.forEach(function (e) {
      var a = chain(e.src), b = chain(e.dst), i = 0;
      while (i < a.length && i < b.length && a[i] === b[i]) i++;
      if (i >= a.length || i >= b.length) return;  // one end holds the other: no edge inside
      var frame = i === 0 ? "" : a[i - 1], key = a[i] + ">" + b[i];
      var f = local[frame] = local[frame] || {};
      f[key] = [a[i], b[i]];
    });
    var placed = {};  // frame -> {w, h, pos: {child: {x, y}}} with positions around (0, 0)
    function lay(frame) {
      var children = t.kids[frame] || [];
      var sizes = {};
      children.forEach(function (c) {
        if (t.size[c]) { sizes[c] = t.size[c]; return; }
        var inner = lay(c);
        sizes[c] = {w: inner.w + 2 * PAD, h: inner.h + 2 * PAD + LABEL};
      });
      var els = children.map(function (c) {
        return {group: "nodes", data: {id: c, w: sizes[c].w, h: sizes[c].h, order: items[c].order}};
      });
      var edges = local[frame] || {};
      Object.keys(edges).forEach(function (k, i) {
        els.push({group: "edges", data: {id: "l" + i, source: edges[k][0], target: edges[k][1],
                                         order: items[edges[k][0]].order}});
      });
      var pos = {};
      if (children.length === 1) {
        pos[children[0]] = {x: 0, y: 0};
      } else {
        scratch.elements().remove();
        scratch.add(els);
        scratch.layout({name: "dagre", rankDir: state.rankdir, nodeSep: 18, rankSep: 30, edgeSep: 8,
                        fit: false, animate: false,
                        sort: function (a, b) { return a.data("order") - b.data("order"); }}).run();
        scratch.nodes().forEach(function (n) { pos[n.id()] = {x: n.position("x"), y: n.position("y")}; });
      }
      var x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
      children.forEach(function (c) {
        x1 = Math.min(x1, pos[c].x - sizes[c].w / 2); x2 = Math.max(x2, pos[c].x + sizes[c].w / 2);
        y1 = Math.min(y1, pos[c].y - sizes[c].h / 2); y2 = Math.max(y2, pos[c].y + sizes[c].h / 2);
      });
      var cx = (x1 + x2) / 2, cy0 = (y1 + y2) / 2;
      children.forEach(function (c) { pos[c] = {x: pos[c].x - cx, y: pos[c].y - cy0}; });
      placed[frame] = {w: x2 - x1, h: y2 - y1, pos: pos};
      return placed[frame];
    }
    lay("");
    // Absolute positions of the boxes: a frame's content sits under its label.
    var out = {};
    function put(frame, x, y) {
      var p = placed[frame];
      (t.kids[frame] || []).forEach(function (c) {
        var px = x + p.pos[c].x, py = y + p.pos[c].y;
        if (t.size[c]) out[c] = {x: px, y: py}; else put(c, px, py + LABEL / 2);
      });
    }
    put("", 0, 0);
    return out;
  }

  // ------------------------------------------------------------ drawing
  var C = DATA ? DATA.colors : {edge: "#555555", skip: "#1f5fa8"};
  var cy = cytoscape({
    container: $("cy"),
    boxSelectionEnabled: false,
    minZoom: 0.03,
    maxZoom: 4,
    style: [
      {selector: "node", style: {
        "shape": "round-rectangle", "background-color": "data(color)", "border-width": 1,
        "border-color": "#6b6b6b", "label": "data(text)", "text-wrap": "wrap", "text-valign": "center",
        "text-halign": "center", "font-size": 11, "font-family": "Helvetica, Arial, sans-serif",
        "line-height": 1.2}},
      {selector: "node[w]", style: {"width": "data(w)", "height": "data(h)"}},
      {selector: "node.block", style: {"border-width": 2, "border-color": "#4a5d80"}},
      {selector: "node.run", style: {"border-width": 4, "border-style": "double"}},
      {selector: "node.io", style: {"shape": "ellipse"}},
      {selector: "node.train", style: {"border-style": "dashed"}},
      {selector: ":parent", style: {
        "text-valign": "top", "text-halign": "center", "background-color": "#f6f8fc",
        "border-color": "#8a9bb8", "border-width": 1, "border-style": "solid", "padding": 12,
        "font-size": 10, "font-weight": "bold", "color": "#333"}},
      {selector: ":parent.seq", style: {"border-style": "dashed", "border-color": "#b0b0b0", "background-opacity": 0.25}},
      {selector: ":parent.run", style: {"border-style": "double", "border-width": 3}},
      {selector: "node:selected", style: {"border-color": "#e08a00", "border-width": 3}},
      {selector: "edge", style: {
        "width": 1.2, "line-color": C.edge, "target-arrow-color": C.edge, "target-arrow-shape": "triangle",
        "arrow-scale": 0.7, "curve-style": "bezier", "label": "data(text)", "font-size": 8, "color": "#444",
        "text-background-color": "#ffffff", "text-background-opacity": 0.85, "text-background-padding": 1}},
      {selector: "edge.skip", style: {"line-color": C.skip, "target-arrow-color": C.skip, "color": C.skip, "width": 2}},
      {selector: "edge.train", style: {"line-style": "dashed"}}
    ]
  });

  function anchorOf(id) {
    var el = id ? cy.getElementById(id) : null;
    if (!el || el.empty()) return null;
    var bb = el.renderedBoundingBox({includeLabels: false});
    return {id: id, x: (bb.x1 + bb.x2) / 2, y: bb.y1};
  }

  /* Rebuild and lay out; `anchor` (from anchorOf) keeps that element still on screen. */
  function redraw(anchor) {
    if (!state.data) return;
    var els = elements();
    cy.batch(function () {
      cy.elements().remove();
      cy.add(els);
    });
    var positions = layoutTree();
    cy.batch(function () {
      cy.nodes().forEach(function (n) { if (positions[n.id()]) n.position(positions[n.id()]); });
    });
    var now = anchor ? anchorOf(anchor.id) : null;
    if (now) cy.panBy({x: anchor.x - now.x, y: anchor.y - now.y});
    if (!anchor) fit(positions);
    if (state.selected && cy.getElementById(state.selected).nonempty()) cy.getElementById(state.selected).select();
    var frames = cy.nodes(":parent").length;
    $("count").textContent = state.boxes.length + " boxes, " + frames + " frames, " + cy.edges().length + " edges";
    document.body.dataset.boxes = String(state.boxes.length);
    document.body.dataset.version = String(state.version);
  }

  /* Fit the drawing to the window, but no smaller than MIN_FIT_ZOOM: then show its start.
   * (cy.fit measures every label, which takes seconds for a thousand edges; the boxes suffice.) */
  function fit(positions) {
    var x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity, size = state.tree.size;
    Object.keys(positions).forEach(function (id) {
      var p = positions[id], s = size[id];
      x1 = Math.min(x1, p.x - s.w / 2); x2 = Math.max(x2, p.x + s.w / 2);
      y1 = Math.min(y1, p.y - s.h / 2); y2 = Math.max(y2, p.y + s.h / 2);
    });
    if (x1 === Infinity) return;
    var m = 24 + PAD, w = cy.width(), h = cy.height();
    var z = Math.min(1.5, (w - 2 * m) / (x2 - x1), (h - 2 * m) / (y2 - y1));
    var tb = state.rankdir === "TB";
    if (z >= MIN_FIT_ZOOM) {
      cy.viewport({zoom: z, pan: {x: w / 2 - z * (x1 + x2) / 2, y: h / 2 - z * (y1 + y2) / 2}});
    } else {
      z = MIN_FIT_ZOOM;
      cy.viewport({zoom: z, pan: {x: tb ? w / 2 - z * (x1 + x2) / 2 : m - z * x1,
                                  y: tb ? m + LABEL - z * y1 : h / 2 - z * (y1 + y2) / 2}});
    }
  }

  function toggle(id) {
    var it = state.data.items[id];
    if (!it || !isContainer(it)) return false;
    var anchor = anchorOf(id);
    if (state.open.has(id)) state.open.delete(id); else state.open.add(id);
    markDepth(undefined);
    redraw(anchor);
    if (state.selected === id) showPanel(id);
    return true;
  }

  function setDepth(depth) {
    state.depth = depth;
    state.open = defaultOpen(state.data, depth);
    markDepth(depth);
    redraw(null);
  }

  // ------------------------------------------------------------ bar, tooltip, panel
  function header() {
    var data = state.data;
    $("name").textContent = data ? data.name : "netspec";
    $("summary").textContent = data ? data.title : "";
    var depths = $("depths");
    depths.innerHTML = "";
    if (!data) return;
    var levels = [];
    for (var d = 0; d <= data.maxDepth; d++) levels.push(d);
    levels.push(null);
    depths.appendChild(document.createTextNode("depth "));
    levels.forEach(function (d) {
      var b = document.createElement("button");
      b.textContent = d === null ? "full" : String(d);
      b.dataset.depth = d === null ? "full" : String(d);
      b.title = d === null ? "every layer" : "open blocks nested " + d + " deep";
      b.onclick = function () { setDepth(d); };
      depths.appendChild(b);
    });
    var seen = {};
    Object.keys(data.items).forEach(function (id) { seen[data.items[id].family] = true; });
    var legend = Object.keys(data.colors).filter(function (f) { return seen[f] && f !== "io"; }).map(function (f) {
      var name = f === "block" ? "block, x N repeated" : f;
      return "<span style=\"background:" + esc(data.colors[f]) + "\">" + esc(name) + "</span>";
    });
    legend.push("<span class=\"skip\">&#8594; skip</span>");
    $("legend").innerHTML = legend.join("");
  }

  function markDepth(depth) {
    var key = depth === null ? "full" : depth === undefined ? "" : String(depth);
    Array.prototype.forEach.call($("depths").querySelectorAll("button"), function (b) {
      b.classList.toggle("on", b.dataset.depth === key);
    });
  }

  function rows(it) {
    return "<table>" + it.tip.map(function (r) {
      return "<tr><td>" + esc(r[0]) + "</td><td>" + esc(r[1]) + "</td></tr>";
    }).join("") + "</table>";
  }

  function showTip(id, ev) {
    var it = state.data.items[id], tip = $("tip");
    if (!it) return;
    tip.innerHTML = rows(it);
    tip.dataset.path = it.path;
    tip.hidden = false;
    moveTip(ev);
  }

  function moveTip(ev) {
    var tip = $("tip");
    if (tip.hidden || !ev) return;
    var x = ev.clientX + 14, y = ev.clientY + 14;
    var w = tip.offsetWidth, h = tip.offsetHeight;
    if (x + w > window.innerWidth - 4) x = Math.max(4, ev.clientX - w - 14);
    if (y + h > window.innerHeight - 4) y = Math.max(4, ev.clientY - h - 14);
    tip.style.left = x + "px";
    tip.style.top = y + "px";
  }

  function sourceHtml(src) {
    var lines = state.data.sources[src[0]] || {}, out = [];
    Object.keys(lines).map(Number).sort(function (a, b) { return a - b; }).forEach(function (n) {
      if (Math.abs(n - src[1]) > 2) return;
      var text = "<span class=\"no\">" + String(n).padStart(4) + " | </span>" + esc(lines[n]);
      out.push(n === src[1] ? "<span class=\"here\">" + text + "</span>" : text);
    });
    return "<div class=\"where\">" + esc(src[0] + ":" + src[1] + ":" + src[2]) + "</div>" +
      "<pre class=\"source\">" + out.join("\n") + "</pre>";
  }

  function showPanel(id) {
    var it = state.data.items[id], panel = $("panel");
    if (!it) return;
    var html = "<h3>" + esc(it.path) + "</h3>";
    if (it.src) html += sourceHtml(it.src);
    if (isContainer(it)) {
      var verb = state.open.has(id) ? "close" : it.kind === "run" ? "unfold x" + it.count : "open";
      html += "<button id=\"toggle\">" + verb + "</button>";
    }
    panel.innerHTML = html + rows(it);
    panel.dataset.path = it.path;
    var b = $("toggle");
    if (b) b.onclick = function () { toggle(id); };
  }

  function showError(text) {
    var box = $("error");
    box.hidden = !text;
    box.textContent = text || "";
    document.body.dataset.error = text ? "1" : "";
  }

  cy.on("mouseover", "node", function (e) { showTip(e.target.id(), e.originalEvent); });
  cy.on("mousemove", function (e) { moveTip(e.originalEvent); });
  cy.on("mouseout", "node", function () { $("tip").hidden = true; });
  cy.on("tap", "node", function (e) { state.selected = e.target.id(); showPanel(state.selected); });
  cy.on("dbltap", "node", function (e) { toggle(e.target.id()); });
  cy.on("tap", function (e) { if (e.target === cy) state.selected = null; });
  $("fit").onclick = function () { cy.fit(undefined, 24); };  // everything, however small
  $("rankdir").onclick = function () {
    state.rankdir = state.rankdir === "TB" ? "LR" : "TB";
    $("rankdir").textContent = state.rankdir;
    redraw(null);
  };
  $("rankdir").textContent = state.rankdir;

  // ------------------------------------------------------------ netspec view: follow the file
  function keepOpen(old, data) {
    var open = defaultOpen(data, state.depth), was = {};
    if (old) Object.keys(old.items).forEach(function (id) {
      var it = old.items[id];
      if (isContainer(it)) was[it.kind + " " + it.path] = state.open.has(id);
    });
    Object.keys(data.items).forEach(function (id) {
      var key = data.items[id].kind + " " + data.items[id].path;
      if (key in was) { if (was[key]) open.add(id); else open.delete(id); }
    });
    return open;
  }

  function poll() {
    fetch(CONFIG.live.endpoint + "?version=" + state.version, {cache: "no-store"})
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (s.version === state.version) return;
        state.version = s.version;
        showError(s.error);
        if (s.data) {
          state.open = keepOpen(state.data, s.data);
          state.data = s.data;
          if (state.selected && !s.data.items[state.selected]) state.selected = null;
          header();
          redraw(null);
        }
        document.body.dataset.version = String(state.version);
      })
      .catch(function () { /* the server stopped; the drawing stays */ });
  }

  // ------------------------------------------------------------ start
  header();
  showError(CONFIG.error);
  if (state.data) {
    state.open = defaultOpen(state.data, state.depth);
    markDepth(state.depth);
    redraw(null);
  }
  document.body.dataset.version = String(state.version);
  if (CONFIG.live) setInterval(poll, CONFIG.live.interval || 500);

  window.netspecPage = {
    cy: cy,
    state: state,
    boxes: function () { return state.boxes.length; },
    frames: function () { return cy.nodes(":parent").length; },
    find: function (path) {
      var items = state.data.items;
      return Object.keys(items).filter(function (id) { return items[id].path === path; })[0] || null;
    },
    toggle: function (path) { return toggle(window.netspecPage.find(path)); },
    setDepth: setDepth
  };
  document.body.dataset.ready = "1";
})();
