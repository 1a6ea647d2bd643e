// locality network page: paints the network with Cytoscape.js at the positions computed in
// Python (preset layout), filters it by sector, and shows a node's card when clicked.
// Data come from JSON script tags (never executed), so the Content-Security-Policy can keep
// scripts to this server only. Cards are built with textContent: names are never HTML.
(function () {
  "use strict";

  function read(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function money(value) {
    if (value === null || value === undefined) {
      return "-";
    }
    return "£" + Math.round(value).toLocaleString("en-GB");
  }

  function words(text) {
    return String(text || "").replace(/_/g, " ");
  }

  function add(parent, tag, text, className) {
    var el = document.createElement(tag);
    if (text !== undefined && text !== null) {
      el.textContent = text;
    }
    if (className) {
      el.className = className;
    }
    parent.appendChild(el);
    return el;
  }

  function showCard(aside, card) {
    aside.textContent = "";
    add(aside, "h3", card.name, "card-name");
    var facts = add(aside, "dl", null, "facts");
    var rows = [
      ["Sector", words(card.sector) + (card.buyer_type ? " (" + words(card.buyer_type) + ")" : "")],
      ["Why this sector", card.sector_evidence],
      ["Sector source", card.sector_source],
      ["From the list", card.sector_list || "no imported list names it"],
      ["Place", card.locality || "unknown"],
      ["Ties", String(card.degree)],
      ["Money on its ties", money(card.strength)],
      ["Betweenness", card.betweenness.toFixed(4)],
      ["Constraint", card.constraint === null ? "-" : card.constraint.toFixed(3)],
      ["Effective size", String(card.effective_size)],
      ["Community", String(card.community)]
    ];
    rows.forEach(function (row) {
      add(facts, "dt", row[0]);
      add(facts, "dd", row[1]);
    });
    var roles = Object.keys(card.roles).filter(function (r) { return card.roles[r] > 0; });
    if (roles.length) {
      add(aside, "p", "Brokerage: " + roles.map(function (r) {
        return r + " " + card.roles[r];
      }).join(", "));
    }
    if (card.why) {
      add(aside, "p", card.why, "why");
    }
    if (card.ties.length) {
      add(aside, "h4", "Main ties");
      var list = add(aside, "ul", null, "ties");
      card.ties.forEach(function (t) {
        var text = t.name + " (" + words(t.sector) + "): " + t.kinds.map(words).join(", ");
        text += t.value ? ", " + money(t.value) : "";
        text += ", " + t.count + (t.count === 1 ? " award or payment" : " awards or payments");
        add(list, "li", text);
      });
      if (card.more_ties) {
        add(aside, "p", "and " + card.more_ties + " more ties", "note");
      }
    }
  }

  function draw() {
    var target = document.getElementById("network-graph");
    var elements = read("network-elements");
    var cards = read("network-cards") || {};
    if (!target || !elements || typeof window.cytoscape !== "function") {
      return;
    }
    var cy = window.cytoscape({
      container: target,
      elements: elements,
      layout: { name: "preset", fit: true, padding: 20 },
      minZoom: 0.1,
      maxZoom: 6,
      style: [
        {
          selector: "node",
          style: {
            "background-color": "data(colour)",
            width: "data(size)",
            height: "data(size)",
            "border-width": 1,
            "border-color": "#333",
            label: "",
            "font-size": 11,
            "text-valign": "bottom",
            "text-margin-y": 2
          }
        },
        { selector: "node[size >= 35]", style: { label: "data(label)" } },
        { selector: "node:selected", style: { "border-width": 4, "border-color": "#000", label: "data(label)" } },
        { selector: "edge", style: { width: "data(width)", "line-color": "#b9c3cc", "curve-style": "haystack", opacity: 0.7 } },
        { selector: "edge[kinds *= 'framework']", style: { "line-style": "dashed" } },
        { selector: ".hidden", style: { display: "none" } }
      ]
    });
    var aside = document.getElementById("network-card");
    cy.on("tap", "node", function (evt) {
      var card = cards[evt.target.id()];
      if (card && aside) {
        showCard(aside, card);
        aside.setAttribute("data-node", evt.target.id());
      }
    });
    document.querySelectorAll(".network-sectors input[name=sector]").forEach(function (box) {
      box.addEventListener("change", function () {
        var nodes = cy.nodes("[sector = '" + box.value + "']");
        if (box.checked) {
          nodes.removeClass("hidden");
        } else {
          nodes.addClass("hidden");
        }
      });
    });
    target.setAttribute("data-drawn", String(cy.nodes().length));
    window.localityNetwork = cy;
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
