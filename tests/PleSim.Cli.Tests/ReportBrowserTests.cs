using System.Globalization;
using System.Text.Json;
using PuppeteerSharp;

namespace PleSim.Cli.Tests;

/// <summary>
/// The HTML report opened in a real headless browser (Debian's Chromium driven by PuppeteerSharp):
/// it loads without console errors or failed requests, its tables hold the values of points.json,
/// every plot renders with units on both axes, nothing overflows the page sideways (wide tables
/// scroll in their box, the scenario's long lines wrap), and a screenshot is kept as a test artifact (TestResults/report.png).
/// </summary>
public sealed class ReportBrowserTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"plesim-browser-{Guid.NewGuid():N}");

    public ReportBrowserTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Chromium's path: PLESIM_CHROMIUM, else Debian's /usr/bin/chromium (installed by scripts/install-prerequisites.sh).</summary>
    private static string Chromium()
    {
        var path = Environment.GetEnvironmentVariable("PLESIM_CHROMIUM") ?? "/usr/bin/chromium";
        if (!File.Exists(path))
        {
            var (ok, output) = Prerequisites.EnsureInstalled();
            Assert.True(File.Exists(path),
                $"Chromium is needed to check the HTML report in a real browser, and {path} does not exist. " +
                $"Install it with scripts/install-prerequisites.sh (Debian package 'chromium'), or point PLESIM_CHROMIUM at a Chromium binary. " +
                $"The install script {(ok ? "ran" : "failed")}: {output.Trim()}");
        }
        return path;
    }

    [Fact]
    public async Task The_html_report_renders_in_chromium_with_the_expected_values_and_plots()
    {
        var chromium = Chromium();
        // The shipped scenario with a line longer than the page: the scenario listing must wrap it, not clip it.
        var scenario = Path.Combine(_dir, "engine-hold.yaml");
        File.WriteAllText(scenario, File.ReadAllText(CliTests.Repo("scenarios", "engine-hold.yaml")) +
            "# " + string.Join(" ", Enumerable.Range(0, 40).Select(i => $"a-long-comment-word-{i}")) + "\n");
        var (code, _, err) = SweepCliTests.Plesim(["sweep", scenario, .. SweepCliTests.Grid, "--out", _dir]);
        Assert.True(code == 0, err);
        var html = Path.Combine(_dir, "report.html");
        (code, _, err) = SweepCliTests.Plesim("report", _dir, "--html", html);
        Assert.True(code == 0, err);

        await using var browser = await Puppeteer.LaunchAsync(new LaunchOptions
        {
            ExecutablePath = chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        });
        await using var page = await browser.NewPageAsync();
        await page.SetViewportAsync(new ViewPortOptions { Width = 1200, Height = 900 });
        var problems = new List<string>();
        page.Console += (_, e) =>
        {
            if (e.Message.Type is ConsoleType.Error or ConsoleType.Warning)
                problems.Add($"console {e.Message.Type}: {e.Message.Text}");
        };
        page.PageError += (_, e) => problems.Add("page error: " + e.Message);
        page.RequestFailed += (_, e) => problems.Add("request failed: " + e.Request.Url);
        var response = await page.GoToAsync(new Uri(html).AbsoluteUri, WaitUntilNavigation.Load);
        Assert.True(response is null || response.Ok, $"loading the report failed: {response?.Status}");
        Assert.Empty(problems);

        // The points table holds the means of points.json, point by point.
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "points.json")));
        var cells = await page.EvaluateExpressionAsync<string[][]>(
            "Array.from(document.querySelectorAll('#points tbody tr')).map(tr => Array.from(tr.querySelectorAll('td[data-metric]')).map(td => td.dataset.metric + '=' + td.dataset.mean))");
        var points = json.RootElement.GetProperty("points");
        Assert.Equal(points.GetArrayLength(), cells.Length);
        for (int i = 0; i < cells.Length; i++)
        {
            Assert.NotEmpty(cells[i]);
            foreach (var cell in cells[i])
            {
                var metric = cell[..cell.IndexOf('=', StringComparison.Ordinal)];
                var mean = double.Parse(cell[(cell.IndexOf('=', StringComparison.Ordinal) + 1)..], CultureInfo.InvariantCulture);
                Assert.Equal(points[i].GetProperty("metrics").GetProperty(metric).GetProperty("mean").GetDouble(), mean);
            }
        }
        var shownText = await page.EvaluateExpressionAsync<string>("document.querySelector('#points tbody tr td[data-metric]').textContent");
        Assert.Contains("±", shownText, StringComparison.Ordinal);
        var comparisons = await page.EvaluateExpressionAsync<int>("document.querySelectorAll('#comparisons tbody tr, #comparisons-more tbody tr').length");
        Assert.Equal(json.RootElement.GetProperty("comparisons").GetArrayLength(), comparisons);

        // Every plot is an inline SVG that the browser laid out with a real size and drew content in.
        var plots = await page.EvaluateExpressionAsync<JsonElement>("""
            Array.from(document.querySelectorAll('figure.plot')).map(f => {
              const svg = f.querySelector('svg');
              if (!svg) return { id: f.id, width: 0, height: 0, shapes: 0, texts: '' };
              const r = svg.getBoundingClientRect();
              const b = svg.getBBox();
              return { id: f.id, width: r.width, height: r.height, bboxw: b.width, bboxh: b.height,
                       shapes: svg.querySelectorAll('path, line, rect, circle, polyline, polygon, ellipse').length,
                       texts: Array.from(svg.querySelectorAll('text')).map(t => t.textContent).join('|') };
            })
            """);
        Assert.True(plots.GetArrayLength() >= 2, "expected metric plots");
        foreach (var p in plots.EnumerateArray())
        {
            var id = p.GetProperty("id").GetString();
            Assert.True(p.GetProperty("width").GetDouble() > 100 && p.GetProperty("height").GetDouble() > 100, $"{id} has no size");
            Assert.True(p.GetProperty("bboxw").GetDouble() > 50 && p.GetProperty("bboxh").GetDouble() > 50, $"{id} drew nothing");
            Assert.True(p.GetProperty("shapes").GetInt32() > 5, $"{id} has too few shapes");
        }
        var eventsPlot = plots.EnumerateArray().Single(p => p.GetProperty("id").GetString() == "plot-metric-events");
        Assert.Contains("cancel_half=true", eventsPlot.GetProperty("texts").GetString(), StringComparison.Ordinal);
        // Both axes of every plot are titled with their unit: "name [unit]".
        foreach (var p in plots.EnumerateArray())
        {
            var titled = p.GetProperty("texts").GetString()!.Split('|').Select(t => t.Trim()).Where(t => System.Text.RegularExpressions.Regex.IsMatch(t, @"^\S+ \[[^\]]+\]")).ToList();
            Assert.True(titled.Count >= 2, $"{p.GetProperty("id").GetString()}: axis titles without a unit: {p.GetProperty("texts").GetString()}");
        }
        Assert.Contains("engine_hold.population [events]", eventsPlot.GetProperty("texts").GetString(), StringComparison.Ordinal);
        Assert.Contains("events [events]", eventsPlot.GetProperty("texts").GetString(), StringComparison.Ordinal);

        // Nothing sticks out of the page sideways, on a wide and on a narrow window, with every
        // folded section open: wide tables scroll inside their own box, long lines wrap.
        foreach (var width in new[] { 1200, 640 })
        {
            await page.SetViewportAsync(new ViewPortOptions { Width = width, Height = 900 });
            var overflow = await page.EvaluateExpressionAsync<string[]>("""
                (() => {
                  for (const d of document.querySelectorAll('details')) d.open = true;
                  const W = document.documentElement.clientWidth;
                  const bad = [];
                  for (const e of document.body.querySelectorAll('*')) {
                    let p = e.parentElement, inScroller = false;
                    while (p && p !== document.body) {
                      const o = getComputedStyle(p).overflowX;
                      if (o === 'auto' || o === 'scroll' || o === 'hidden') { inScroller = true; break; }
                      p = p.parentElement;
                    }
                    if (inScroller) continue;
                    const r = e.getBoundingClientRect();
                    if (r.right > W + 0.5) bad.push(e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + ' ends at ' + Math.round(r.right));
                  }
                  for (const p of document.querySelectorAll('pre'))
                    if (p.scrollWidth > p.clientWidth + 1) bad.push('pre' + (p.id ? '#' + p.id : '') + ' hides ' + (p.scrollWidth - p.clientWidth) + ' px of its lines');
                  if (document.documentElement.scrollWidth > W) bad.push('the page scrolls sideways: ' + document.documentElement.scrollWidth + ' > ' + W);
                  return bad;
                })()
                """);
            Assert.True(overflow.Length == 0, $"at {width} px: {string.Join("; ", overflow)}");
        }
        await page.SetViewportAsync(new ViewPortOptions { Width = 1200, Height = 900 });

        var shot = CliTests.Repo("TestResults", "report.png");
        Directory.CreateDirectory(Path.GetDirectoryName(shot)!);
        await page.ScreenshotAsync(shot, new ScreenshotOptions { FullPage = true });
        Assert.True(new FileInfo(shot).Length > 10_000, "the screenshot is suspiciously small");
        Assert.Empty(problems);
    }
    [Fact]
    public async Task The_catalog_scorecard_renders_in_chromium_with_the_values_of_its_json()
    {
        var chromium = Chromium();
        var file = CatalogCliTests.TinyCaseFile(Path.Combine(_dir, "cases"));
        var outDir = Path.Combine(_dir, "catalog");
        var (code, _, err) = SweepCliTests.Plesim("reproduce", file, "--quick", "--out", outDir, "-j", "1");
        Assert.True(code == 0, err);
        var jsonPath = Path.Combine(outDir, "catalog.json");
        var html = Path.Combine(_dir, "catalog.html");
        (code, _, err) = SweepCliTests.Plesim("report", jsonPath, "--html", html);
        Assert.True(code == 0, err);

        await using var browser = await Puppeteer.LaunchAsync(new LaunchOptions
        {
            ExecutablePath = chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        });
        await using var page = await browser.NewPageAsync();
        await page.SetViewportAsync(new ViewPortOptions { Width = 1200, Height = 900 });
        var problems = new List<string>();
        page.Console += (_, e) =>
        {
            if (e.Message.Type is ConsoleType.Error or ConsoleType.Warning)
                problems.Add($"console {e.Message.Type}: {e.Message.Text}");
        };
        page.PageError += (_, e) => problems.Add("page error: " + e.Message);
        page.RequestFailed += (_, e) => problems.Add("request failed: " + e.Request.Url);
        var response = await page.GoToAsync(new Uri(html).AbsoluteUri, WaitUntilNavigation.Load);
        Assert.True(response is null || response.Ok, $"loading the scorecard failed: {response?.Status}");

        using var json = JsonDocument.Parse(File.ReadAllText(jsonPath));
        var result = json.RootElement.GetProperty("results")[0];
        // The scorecard row: the case, its verdict and how many predicates hold.
        var row = await page.EvaluateExpressionAsync<string[]>(
            "Array.from(document.querySelectorAll('#scorecard tbody tr')).map(tr => tr.dataset.case + '|' + tr.dataset.verdict + '|' + tr.children[3].textContent)");
        int holds = result.GetProperty("predicates").EnumerateArray().Count(p => p.GetProperty("on_simulated").GetString() == "holds");
        Assert.Equal([$"tiny-lock|{result.GetProperty("verdict").GetString()}|{holds}/2"], row);
        // Every cell shows the published value and the simulated mean of the JSON.
        var cells = await page.EvaluateExpressionAsync<string[]>(
            "Array.from(document.querySelectorAll('#cells-tiny-lock td[data-mean]')).map(td => td.dataset.row + '@' + td.dataset.column + '=' + td.dataset.mean + '/' + td.dataset.published)");
        var expected = result.GetProperty("cells").EnumerateArray().Select(c =>
            $"{c.GetProperty("row").GetString()}@{c.GetProperty("column").GetString()}={c.GetProperty("mean").GetDouble().ToString("R", CultureInfo.InvariantCulture)}/{c.GetProperty("published").GetDouble().ToString("R", CultureInfo.InvariantCulture)}").ToArray();
        Assert.Equal(expected.Order(StringComparer.Ordinal), cells.Order(StringComparer.Ordinal));
        // Every predicate with its judgement; the source link, calibration and pre-registration are on the page.
        var judgements = await page.EvaluateExpressionAsync<string[]>("Array.from(document.querySelectorAll('#predicates-tiny-lock tbody tr')).map(tr => tr.dataset.judgement)");
        Assert.Equal(result.GetProperty("predicates").EnumerateArray().Select(p => p.GetProperty("on_simulated").GetString()), judgements);
        var text = await page.EvaluateExpressionAsync<string>("document.body.innerText");
        Assert.Contains("kvm.ple_window = 4096, fitted on column c1", text, StringComparison.Ordinal);
        Assert.Contains("0123456789abcdef0123456789abcdef01234567", text, StringComparison.Ordinal);
        Assert.Contains("message-id <x@example.org>", text, StringComparison.Ordinal);
        var width = await page.EvaluateExpressionAsync<double>("document.querySelector('#scorecard').getBoundingClientRect().width");
        Assert.True(width > 300, $"the scorecard table is {width} px wide");

        var shot = CliTests.Repo("TestResults", "catalog-report.png");
        Directory.CreateDirectory(Path.GetDirectoryName(shot)!);
        await page.ScreenshotAsync(shot, new ScreenshotOptions { FullPage = true });
        Assert.True(new FileInfo(shot).Length > 10_000, "the screenshot is suspiciously small");
        Assert.Empty(problems);
    }
}
