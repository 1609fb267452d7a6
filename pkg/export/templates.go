package export

import "html/template"

// The status page and the detail view share their head (styles) and the
// refresh script, which fetches the page again every Refresh
// milliseconds and swaps #content in place: no navigation, so the scroll
// position, an open tooltip's place and the browser history stay. It
// pauses while the tab is hidden, can be paused by hand (remembered per
// browser), and says on the page when a refresh failed. Without script
// the page simply does not refresh.
var templates = template.Must(template.New("head").Parse(`{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;margin:1.5em 2em;color:#222;background:#fff}
h1{margin:0 0 .2em}h2{margin:1.4em 0 .3em}h1 a{color:inherit;text-decoration:none}
.meta{color:#666;font-size:90%;margin:.2em 0 .6em}
table{border-collapse:collapse}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:middle}
th{background:#f4f4f4}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.sev{font-weight:bold;text-transform:uppercase;font-size:85%}
.s0{color:#1a7f37}.s1{color:#b35900}.s2{color:#c62828}
tr.r2 td{background:#fff5f5}tr.r1 td{background:#fffaf0}
.summary{max-width:36em}td.summary{min-width:16em}
svg{display:block;background:#fff;border:1px solid #eee}
svg .frame{fill:#fafafa;stroke:#e4e4e4}
svg .ref{fill:none;stroke:#888;stroke-width:1.5;stroke-dasharray:4 3}
svg .cur{fill:none;stroke:#1f6feb;stroke-width:2}
svg .s2.cur{stroke:#c62828}svg .s1.cur{stroke:#b35900}
svg .fit{fill:none;stroke:#c62828;stroke-width:2}
svg .expect{fill:none;stroke:#1a7f37;stroke-width:1.5;stroke-dasharray:6 3}
svg .skip{fill:none;stroke:#8250df;stroke-width:1.5;stroke-dasharray:2 3}
svg .grid{stroke:#eee}
svg circle.in{fill:#1f6feb}svg circle.out{fill:#fff;stroke:#1f6feb}
svg text{font-size:9px;fill:#666;font-family:sans-serif}
svg.chart text{font-size:11px}
svg.strip rect{stroke:#fff;stroke-width:.5}
svg.strip{border:none;background:none}
.c-ok{fill:#2da44e}.c-warn{fill:#d4a72c}.c-crit{fill:#cf222e}.c-idle{fill:#afb8c1}.c-none{fill:#f0f0f0}
svg.strip rect.change{stroke:#222;stroke-width:1}
svg.strip rect:hover{stroke:#000;stroke-width:1.5}
.since{font-size:80%;color:#555}
.legend{font-size:85%;color:#555}
.legend span.k{display:inline-block;width:2em;vertical-align:middle;margin-left:.6em}
.legend .item{white-space:nowrap}ul.legend{list-style:none;margin:.3em 0;padding:0;max-width:560px}ul.legend li{margin:.15em 0;padding-left:2.8em;text-indent:-2.8em}
.k.l-ref{border-top:2px dashed #888}.k.l-cur{border-top:2px solid #1f6feb}.k.l-fit{border-top:2px solid #c62828}
.k.l-expect{border-top:2px dashed #1a7f37}.k.l-skip{border-top:2px dotted #8250df}
.k.c-ok,.k.c-warn,.k.c-crit,.k.c-idle{width:.9em!important;height:.9em;border:none}
.k.c-ok{background:#2da44e}.k.c-warn{background:#d4a72c}.k.c-crit{background:#cf222e}.k.c-idle{background:#afb8c1}
.notices{border:1px solid #e0b000;background:#fffbe6;padding:.2em 1em;margin:1em 0}
.notices h2{margin:.4em 0;font-size:110%}
.stale{font-size:70%;font-weight:bold;text-transform:uppercase;color:#fff;background:#888;padding:1px 6px;border-radius:3px;vertical-align:middle}
.empty{border:1px solid #ddd;background:#f8f9fa;padding:.5em 1.2em;margin:1em 0;max-width:80em}
pre,code{font-family:ui-monospace,monospace;font-size:90%}pre{background:#fff;border:1px solid #eee;padding:.6em;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
#refresh{font-size:85%;color:#666}#refresh button{font-size:90%}
.charts{display:flex;flex-wrap:wrap;gap:1.5em;margin-top:1.2em}.charts figure{margin:0;max-width:562px}figcaption{font-size:90%;color:#444;max-width:560px;margin:.3em 0}
dl.figures{display:grid;grid-template-columns:max-content max-content;gap:.1em 1em;font-size:90%}dl.figures dt{color:#666}dl.figures dd{margin:0;font-variant-numeric:tabular-nums}
</style></head>{{end}}

{{define "refresh"}}{{if .Refresh}}<p id="refresh">Refreshes every {{.RefreshSeconds}} s, keeping your place. <button type="button" id="pause">pause</button> <span id="refresh-state"></span></p>
<script>
(function () {
  var every = {{.Refresh}}, root = document.documentElement, n = 0;
  var paused = localStorage.getItem("normwatch.paused") === "1";
  var button = document.getElementById("pause"), state = document.getElementById("refresh-state");
  function show() { button.textContent = paused ? "resume" : "pause"; }
  button.addEventListener("click", function () {
    paused = !paused;
    localStorage.setItem("normwatch.paused", paused ? "1" : "0");
    show();
  });
  show();
  function refresh() {
    if (paused || document.hidden) return;
    fetch(location.href, {cache: "no-store", headers: {"Accept": "text/html"}}).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.text();
    }).then(function (text) {
      var next = new DOMParser().parseFromString(text, "text/html").getElementById("content");
      var cur = document.getElementById("content");
      if (!next || !cur) throw new Error("no content");
      var x = window.scrollX, y = window.scrollY;
      cur.replaceWith(document.adoptNode(next));
      window.scrollTo(x, y);
      n++;
      root.dataset.refreshes = String(n);
      root.dataset.scrollBefore = String(y);
      root.dataset.scrollAfter = String(window.scrollY);
      state.textContent = "";
    }).catch(function (e) {
      state.textContent = "refresh failed (" + e.message + "); retrying";
    });
  }
  setInterval(refresh, every);
})();
</script>{{end}}{{end}}

{{define "strip"}}{{with .}}<svg class="strip" xmlns="http://www.w3.org/2000/svg" width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" role="img" aria-label="diagnosis of each evaluation kept, newest on the right">
<rect class="c-none" x="0" y="0" width="{{.W}}" height="{{.H}}"><title>room for {{.Size}} evaluations; older ones are dropped</title></rect>
{{range .Cells}}<rect class="{{.Class}}{{if .Change}} change{{end}}" x="{{.X}}" y="0" width="{{.W}}" height="{{$.H}}" data-start="{{.Start}}" data-end="{{.End}}" data-count="{{.Count}}" data-diagnosis="{{.Diagnosis}}"><title>{{.Title}}</title></rect>
{{end}}</svg>{{if .Since}}<div class="since">{{.Since}}</div>{{end}}{{end}}{{end}}

{{define "chart"}}{{with .}}<svg class="chart" id="{{.ID}}" xmlns="http://www.w3.org/2000/svg" width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" role="img" aria-label="{{.Title}}"><title>{{.Title}}</title>
<defs><clipPath id="{{.ID}}-clip"><rect x="{{.Left}}" y="{{.Top}}" width="{{.FrameW}}" height="{{.FrameH}}"/></clipPath></defs>
<rect class="frame" x="{{.Left}}" y="{{.Top}}" width="{{.FrameW}}" height="{{.FrameH}}"/>
{{range .XTicks}}<line class="grid" x1="{{printf "%.2f" .Pos}}" x2="{{printf "%.2f" .Pos}}" y1="{{$.Top}}" y2="{{$.Bottom}}"/><text class="xtick" x="{{printf "%.2f" .Pos}}" y="{{$.Bottom}}" dy="13" text-anchor="middle">{{.Label}}</text>
{{end}}{{range .YTicks}}<line class="grid" x1="{{$.Left}}" x2="{{$.Right}}" y1="{{printf "%.2f" .Pos}}" y2="{{printf "%.2f" .Pos}}"/><text class="ytick" x="{{$.Left}}" dx="-4" y="{{printf "%.2f" .Pos}}" dy="4" text-anchor="end">{{.Label}}</text>
{{end}}<text x="{{$.Left}}" y="{{$.H}}" dy="-6">{{.XLabel}}</text>
<text transform="rotate(-90)" x="-{{$.Top}}" y="12" text-anchor="end">{{.YLabel}}</text>
<g clip-path="url(#{{.ID}}-clip)">
{{range .Lines}}<polyline class="{{.Class}}" points="{{.Points}}"{{range .Data}} data-{{.Name}}="{{.Value}}"{{end}}><title>{{.Label}}</title></polyline>
{{end}}{{range .Dots}}<circle class="{{.Class}}" cx="{{printf "%.2f" .X}}" cy="{{printf "%.2f" .Y}}" r="2.5" data-x="{{.DX}}" data-y="{{.DY}}"><title>{{.Title}}</title></circle>
{{end}}</g></svg>
{{with .Legend}}<ul class="legend lines">{{range .}}<li><span class="k {{.Class}}"></span> {{.Label}}</li>{{end}}</ul>{{end}}{{end}}{{end}}
`))

var statusPage = template.Must(template.Must(templates.Clone()).New("status").Parse(`{{template "head" "normwatch"}}<body>
<h1><a href="./">normwatch</a></h1>
{{template "refresh" .}}
<div id="content">
<p class="meta">Drift of production features and embeddings against their training baselines. Rendered {{.Generated.Format "2006-01-02 15:04:05Z07:00"}}.
<span class="legend"><span class="item"><span class="k l-ref"></span> baseline</span> <span class="item"><span class="k l-cur"></span> current horizon</span>{{if .HistorySize}} · <span class="item">history, {{.HistorySize}} evaluations:</span> <span class="item"><span class="k c-ok"></span> ok</span> <span class="item"><span class="k c-warn"></span> warning</span> <span class="item"><span class="k c-crit"></span> critical</span> <span class="item"><span class="k c-idle"></span> no verdict</span>{{end}}</span></p>
{{if .Notices}}<section class="notices"><h2>Needs attention</h2><ul>
{{range .Notices}}<li class="notice"><b>{{.Title}}</b>: {{.Detail}}</li>
{{end}}</ul></section>{{end}}
{{with .Gates}}<section class="gates"><h2>Candidates</h2>
<table><tr><th>model</th><th>candidate</th><th>gate</th><th>live</th><th>windows</th><th>answer</th><th>first reason</th></tr>
{{range .}}<tr class="gate" data-model="{{.Model}}" data-model-version="{{.Version}}" data-state="{{.State}}" data-code="{{.Code}}" data-live="{{.Live}}" data-windows="{{.WindowsCompared}}"><td>{{.Model}}</td><td>{{.Version}}</td><td class="sev {{.Class}}">{{.State}}</td><td>{{if .Live}}{{.Live}}{{else}}–{{end}}</td><td class="num">{{.WindowsCompared}} / {{.MinWindows}}</td><td>{{.Line}}</td><td class="summary">{{.Reason}}</td></tr>
{{end}}</table></section>{{end}}
{{if not .Versions}}{{if .Filtered}}<p>No evaluation of this model version: <a href="./">all versions</a>.</p>{{else}}<section class="empty" id="empty"><h2>No evaluation yet</h2>
<p>Windows close as event time passes: a version shows here once a window of its events has closed.</p>
{{with .Intake}}<h3>Send events</h3>
<p>{{if .Embedded}}To the embedded broker{{else}}To the Kafka brokers{{end}} <code class="brokers">{{range $i, $b := .Brokers}}{{if $i}},{{end}}{{$b}}{{end}}</code>, {{if eq (len .Topics) 1}}topic{{else}}topics{{end}} <code class="topics">{{range $i, $t := .Topics}}{{if $i}},{{end}}{{$t}}{{end}}</code>: one JSON event per message.</p>
{{with $.Example}}<pre class="example">{{.JSON}}</pre>
<p>For instance with kcat:</p><pre class="command">{{.Command}}</pre>
{{with .Omitted}}<p class="meta">Left out of the example for their size: {{range $i, $e := .}}{{if $i}}, {{end}}{{$e}}{{end}} (a JSON array of numbers, or "b64f32:" and base64 of little-endian float32).</p>{{end}}{{end}}
<h3>Baselines loaded</h3>
{{if .Baselines}}<table class="baselines"><tr><th>model</th><th>version</th><th>baseline</th><th>created</th><th>features</th><th>embeddings</th></tr>
{{range .Baselines}}<tr class="baseline" data-model="{{.Model}}" data-model-version="{{.Version}}"><td>{{.Model}}</td><td>{{.Version}}</td><td><code title="{{.ID}}">{{printf "%.16s" .ID}}</code></td><td>{{if .Created.IsZero}}–{{else}}{{.Created.Format "2006-01-02 15:04Z07:00"}}{{end}}</td><td>{{len .Features}}: {{range $i, $f := .Features}}{{if $i}}, {{end}}{{$f}}{{end}}</td><td>{{range $i, $e := .Embeddings}}{{if $i}}, {{end}}{{$e}}{{end}}</td></tr>
{{end}}</table>{{else}}<p class="no-baselines">None: build one with <code>monitor baseline build</code> into the baselines directory; without one a version is compared with its previous version, or only reported.</p>{{end}}
{{end}}</section>{{end}}{{end}}
{{range .Versions}}{{$v := .}}<section class="version" id="v-{{.Model}}-{{.Version}}" data-model="{{.Model}}" data-model-version="{{.Version}}">
<h2>{{.Model}} {{.Version}} <span class="sev s{{printf "%d" .Severity}}">{{.Severity}}</span>{{if eq .State "stale"}} <span class="stale">stale</span>{{end}}</h2>
{{if eq .State "stale"}}<p class="meta stale-note">No events since {{.LastEvent.Format "2006-01-02 15:04:05Z07:00"}}: these figures are old evidence, its alerts are resolved and its drift figures are not exported until events come again.</p>{{end}}
<p class="meta">baseline {{if .BaselineID}}{{.BaselineID}}{{else}}none{{end}} · window ending {{.WindowEnd.Format "2006-01-02 15:04:05Z07:00"}} · evaluated {{.EvaluatedAt.Format "2006-01-02 15:04:05Z07:00"}}</p>
{{with .Faults}}<div class="faults"><p class="sev s2">internal errors: the broken state was reset and the rest went on (normwatch_internal_errors_total)</p><ul>
{{range .}}<li data-component="{{.Component}}">{{.Component}}{{if .Subject}} of {{.Subject}}{{end}}: {{.Count}}× , last {{.Last.Format "2006-01-02 15:04:05Z07:00"}}: {{.Error}}</li>
{{end}}</ul></div>{{end}}
{{if not .Rows}}<p class="meta no-rows">Its events carry no feature, embedding or outcome to compare, so there is nothing to show: are their values where the decoder reads them (decode.features_path, decode.embeddings_path)?</p>{{else}}<table>
<tr><th>feature or embedding</th><th>status</th><th>diagnosis</th><th>samples</th><th>summary</th><th>baseline vs current</th>{{if $.HistorySize}}<th>history</th>{{end}}</tr>
{{range .Rows}}{{$row := .}}<tr class="row r{{printf "%d" .Severity}}" data-name="{{.Name}}"{{with .Signal}} data-signal="{{.}}"{{end}}{{range .Data}} {{.}}{{end}}>
<td class="name">{{if .Outcome}}{{.Name}}{{else}}<a href="detail?model={{$v.Model}}&amp;model_version={{$v.Version}}&amp;{{if .Embedding}}embedding{{else}}feature{{end}}={{.Name}}">{{.Name}}</a>{{end}}{{if .Signal}} <small>({{.Signal}})</small>{{else if .Embedding}} <small>(embedding)</small>{{end}}</td>
<td class="sev s{{printf "%d" .Severity}}">{{.Severity}}</td>
<td>{{.Diagnosis}}</td>
<td class="num">{{.Samples}}</td>
<td class="summary">{{.Sentence}}</td>
<td>{{with .Plot}}<svg class="mini" xmlns="http://www.w3.org/2000/svg" width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" role="img" aria-label="{{.Title}}"><title>{{.Title}}</title>
<rect class="frame" x="{{.Left}}" y="{{.Top}}" width="{{.FrameW}}" height="{{.FrameH}}"/>
{{if .Ref}}<polyline class="ref" points="{{.Ref}}"/>{{end}}
{{if .Cur}}<polyline class="cur s{{printf "%d" $row.Severity}}" points="{{.Cur}}"/>{{end}}
<text x="{{.Left}}" dx="-3" y="{{.Top}}" dy="8" text-anchor="end">{{.YHi}}</text><text x="{{.Left}}" dx="-3" y="{{.Bottom}}" text-anchor="end">{{.YLo}}</text>
<text x="{{.Left}}" y="{{.LabelY}}">{{.XLo}}</text><text x="{{.Right}}" y="{{.LabelY}}" text-anchor="end">{{.XHi}}</text>
</svg>{{else}}–{{end}}</td>
{{if $.HistorySize}}<td class="history">{{with .Strip}}{{template "strip" .}}{{else}}–{{end}}</td>{{end}}
</tr>
{{end}}</table>{{end}}</section>
{{end}}
{{with .Left}}<section class="left"><h2>Versions that left</h2>
<table><tr><th>model</th><th>version</th><th>state</th><th>left</th><th>last event</th><th>why</th></tr>
{{range .}}<tr class="left-row" data-model="{{.Model}}" data-model-version="{{.Version}}"><td>{{.Model}}</td><td>{{.Version}}</td><td>{{.State}}</td><td>{{.Left.Format "2006-01-02 15:04:05Z07:00"}}</td><td>{{if .LastEvent.IsZero}}–{{else}}{{.LastEvent.Format "2006-01-02 15:04:05Z07:00"}}{{end}}</td><td>{{.Reason}}</td></tr>
{{end}}</table></section>{{end}}
</div>
</body></html>
`))

// RefreshSeconds is the refresh interval in seconds, for the page's text.
func (p page) RefreshSeconds() float64 { return float64(p.Refresh) / 1000 }
