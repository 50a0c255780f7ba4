/// The console's stylesheet and its one script, served from the binary (no build step, no CDN).
enum Assets {
    static let css = """
        body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1b1f24; background: #f6f7f9; }
        header { background: #1f2933; color: #fff; padding: 10px 20px; display: flex; gap: 18px; align-items: center; }
        header a { color: #cfe3ff; text-decoration: none; font-weight: 600; }
        header .who { margin-left: auto; color: #9fb3c8; font-size: 12px; }
        main { padding: 16px 20px; }
        table { border-collapse: collapse; background: #fff; margin: 8px 0 18px; width: 100%; }
        th, td { border: 1px solid #d9dee5; padding: 4px 8px; text-align: left; vertical-align: top; font-size: 13px; }
        th { background: #eef1f5; }
        pre { background: #fff; border: 1px solid #d9dee5; padding: 8px; white-space: pre-wrap; word-break: break-word; max-height: 320px; overflow: auto; margin: 4px 0; }
        .state-succeeded, .status-completed { color: #17753a; font-weight: 600; }
        .state-failed, .state-timed_out, .status-failed, .status-error, .status-budget_exceeded { color: #b42318; font-weight: 600; }
        .state-running, .status-in_progress, .status-requires_action { color: #9a6700; font-weight: 600; }
        .round { background: #fff; border: 1px solid #d9dee5; padding: 8px 12px; margin: 10px 0; }
        .call { border-top: 1px solid #eef1f5; padding: 6px 0; }
        .empty { color: #6b7785; font-style: italic; }
        .live { color: #9a6700; font-size: 12px; }
        form.inline { display: inline-flex; gap: 6px; align-items: center; margin: 4px 8px 4px 0; }
        button { padding: 4px 12px; cursor: pointer; }
        .approve { background: #17753a; color: #fff; border: 0; border-radius: 3px; }
        .deny { background: #b42318; color: #fff; border: 0; border-radius: 3px; }
        .filters input, .filters select { margin-right: 8px; }
        .notice { background: #fff8e1; border: 1px solid #f0c36d; padding: 8px; }
        svg.chart rect { fill: #3b82f6; } svg.chart text { font-size: 12px; fill: #1b1f24; }
        """

    /// Live pages: an event stream from the daemon; on each change the page's `main` is fetched again and swapped in.
    static let script = """
        (function () {
          var live = document.body.getAttribute("data-live");
          if (!live || !window.EventSource) return;
          var source = new EventSource(live);
          var refreshing = false;
          function refresh() {
            if (refreshing) return;
            refreshing = true;
            fetch(location.href, { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (html) {
              var next = new DOMParser().parseFromString(html, "text/html").querySelector("main");
              var now = document.querySelector("main");
              if (next && now) now.replaceWith(next);
              document.body.setAttribute("data-refreshed", String(Date.now()));
            }).finally(function () { refreshing = false; });
          }
          source.addEventListener("change", refresh);
          source.addEventListener("ended", function () { refresh(); source.close(); document.body.setAttribute("data-ended", "1"); });
        })();
        """
}
