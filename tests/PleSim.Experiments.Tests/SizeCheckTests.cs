using PleSim.Experiments.Catalog;

namespace PleSim.Experiments.Tests;

/// <summary>
/// The size check stated apart from a catalog case's verdict (decision 0098): the fixed rule on one
/// quantity (ratios, sign flips, a published change near zero, no simulated value) and which
/// quantities a case compares. Synthetic numbers only.
/// </summary>
public class SizeCheckTests
{
    [Theory]
    [InlineData(10, 20, SizeOutcome.Within)]      // exactly 2×
    [InlineData(10, 5, SizeOutcome.Within)]       // exactly 0.5×
    [InlineData(-10, -15, SizeOutcome.Within)]    // two losses, 1.5×
    [InlineData(10, 20.5, SizeOutcome.Outside)]   // just over 2×
    [InlineData(10, 4.5, SizeOutcome.Outside)]    // just under 0.5×
    [InlineData(10, 0, SizeOutcome.Outside)]      // no change where a change was published
    [InlineData(-10, -40, SizeOutcome.Outside)]
    public void A_change_is_within_size_when_its_ratio_to_the_published_is_between_a_half_and_the_factor(double published, double simulated, SizeOutcome expected)
    {
        var (outcome, ratio) = SizeCheck.Judge(published, simulated, percent: true);
        Assert.Equal(expected, outcome);
        Assert.Equal(simulated / published, ratio!.Value, 12);
    }

    [Fact]
    public void A_change_of_the_other_sign_is_opposite_sign_whatever_its_size()
    {
        Assert.Equal(SizeOutcome.OppositeSign, SizeCheck.Judge(10, -5, percent: true).Outcome);
        Assert.Equal(SizeOutcome.OppositeSign, SizeCheck.Judge(-10, 10, percent: true).Outcome);
        Assert.Equal(SizeOutcome.OppositeSign, SizeCheck.Judge(5, -0.5, percent: false).Outcome);
        // The ratio is kept, negative, for a reader of the JSON.
        Assert.True(SizeCheck.Judge(10, -5, percent: true).Ratio < 0);
    }

    [Fact]
    public void A_published_change_within_a_point_of_zero_gives_no_ratio()
    {
        Assert.Equal((SizeOutcome.PublishedNearZero, (double?)null), SizeCheck.Judge(0.4, 5, percent: true));
        Assert.Equal((SizeOutcome.PublishedNearZero, (double?)null), SizeCheck.Judge(-0.4, -5, percent: true));
        // The simulated change also within a point of it: within, still without a ratio.
        Assert.Equal((SizeOutcome.Within, (double?)null), SizeCheck.Judge(0.4, -0.3, percent: true));
        Assert.Equal((SizeOutcome.Within, (double?)null), SizeCheck.Judge(0, 0, percent: true));
    }

    [Fact]
    public void Changes_within_a_point_of_each_other_are_within_size_whatever_their_ratio()
    {
        var (outcome, ratio) = SizeCheck.Judge(1.5, 0.6, percent: true);
        Assert.Equal(SizeOutcome.Within, outcome);
        Assert.Equal(0.4, ratio!.Value, 12);
        Assert.Equal(SizeOutcome.Within, SizeCheck.Judge(1.2, 0.3, percent: true).Outcome);
        // A value in the case's unit has no point floor: only the ratio counts, and only a published 0 has none.
        Assert.Equal(SizeOutcome.Outside, SizeCheck.Judge(1.5, 0.6, percent: false).Outcome);
        Assert.Equal(SizeOutcome.Within, SizeCheck.Judge(0.4, 0.7, percent: false).Outcome);
        Assert.Equal((SizeOutcome.PublishedNearZero, (double?)null), SizeCheck.Judge(0, 3, percent: false));
    }

    [Fact]
    public void A_quantity_without_a_simulated_value_is_not_compared()
    {
        Assert.Equal((SizeOutcome.NoSimulatedValue, (double?)null), SizeCheck.Judge(10, null, percent: true));
        Assert.Equal((SizeOutcome.NoSimulatedValue, (double?)null), SizeCheck.Judge(10, double.NaN, percent: false));
    }

    /// <summary>A case on a 2 × 2 table with the shape given (the loader checks each predicate holds on the published numbers).</summary>
    private static CatalogCase Case(string shape, string rows =
        "    - {name: base, values: [100, 50]}\n" +
        "    - {name: patched, values: [100.5, 80]}\n") =>
        CaseLoader.LoadText(
            "name: demo\n" +
            "title: a demo\n" +
            "source: {authors: A. Author, title: A patch, venue: LKML, date: 2012-07-10, url: https://example.org/x}\n" +
            "setup: two guests\n" +
            "measured: throughput\n" +
            "published:\n  unit: ops/s\n  columns: [1x, 2x]\n  rows:\n" + rows +
            "shape:\n" + shape +
            "cannot_express: a workload kind\n" +
            "preregistered_commit: pending\n", "demo.yaml");

    private static Func<CellRef, double?> Cells(params (string Row, string Column, double? Value)[] cells) =>
        x => cells.FirstOrDefault(c => c.Row == x.Row && c.Column == x.Column).Value;

    [Fact]
    public void An_absolute_case_compares_the_change_between_the_cells_each_predicate_compares_once_per_pair()
    {
        var c = Case(
            "  - {claim: same at 1x, near: [\"patched @ 1x\", \"base @ 1x\", 0.02]}\n" +
            "  - {claim: gain at 2x, greater: [\"patched @ 2x\", \"base @ 2x\"]}\n" +
            "  - {claim: gain grows, greater: [\"gain(patched @ 2x; base @ 2x)\", \"gain(patched @ 1x; base @ 1x)\"]}\n" +
            "  - {claim: base halves, greater: [\"base @ 1x\", \"base @ 2x\"]}\n");
        // Simulated at another scale (a scaled-down workload): only the changes are compared.
        var size = SizeCheck.Of(c, Cells(("base", "1x", 10), ("patched", "1x", 10), ("base", "2x", 4), ("patched", "2x", 10)));
        Assert.Equal(["gain(patched @ 1x; base @ 1x)", "gain(patched @ 2x; base @ 2x)", "gain(base @ 1x; base @ 2x)"],
            size.Comparisons.Select(x => x.Quantity));
        Assert.All(size.Comparisons, x => Assert.Equal(SizeComparison.Gain, x.Kind));
        var at1 = size.Comparisons[0];
        Assert.Equal((SizeOutcome.Within, (double?)null), (at1.Outcome, at1.Ratio)); // published +0.5%: near 0, simulated 0
        var at2 = size.Comparisons[1];
        Assert.Equal(100 * ((80.0 / 50) - 1), at2.Published, 9);
        Assert.Equal(100 * ((10.0 / 4) - 1), at2.Simulated!.Value, 9);
        Assert.Equal(SizeOutcome.Outside, at2.Outcome); // +150% against +60%
        Assert.Equal(SizeOutcome.Within, size.Comparisons[2].Outcome); // +150% against +100%
        Assert.Equal(2, size.Within);
        Assert.False(size.AllWithin);
        Assert.Same(at2, size.Furthest);
    }

    [Fact]
    public void An_absolute_cell_judged_on_its_own_is_compared_as_a_level()
    {
        var c = Case("  - {claim: 2x in range, between: [\"patched @ 2x\", 70, 90]}\n");
        var size = SizeCheck.Of(c, Cells(("patched", "2x", 60)));
        var x = Assert.Single(size.Comparisons);
        Assert.Equal((SizeComparison.Level, "patched @ 2x", 80.0, 60.0), (x.Kind, x.Quantity, x.Published, x.Simulated!.Value));
        Assert.Equal(SizeOutcome.Within, x.Outcome);
        Assert.True(size.AllWithin);
    }

    [Fact]
    public void A_relative_case_compares_every_published_cell_and_skips_cells_without_a_published_number()
    {
        var c = Case("  - {claim: gains at 2x, positive: \"patched @ 2x\"}\n",
            "    - {name: base, values: [~, 5]}\n" +
            "    - {name: patched, values: [10, 20]}\n");
        c = c with { Expression = new CaseExpression("s.yaml", "m", 2, 2, [], [], [], "") { Relative = new RelativeCells(["x=1"], false) } };
        var size = SizeCheck.Of(c, Cells(("base", "1x", 3), ("base", "2x", -1), ("patched", "1x", null), ("patched", "2x", 70)));
        Assert.Equal(["base @ 2x", "patched @ 1x", "patched @ 2x"], size.Comparisons.Select(x => x.Quantity));
        Assert.All(size.Comparisons, x => Assert.Equal(SizeComparison.Change, x.Kind));
        Assert.Equal([SizeOutcome.OppositeSign, SizeOutcome.NoSimulatedValue, SizeOutcome.Outside], size.Comparisons.Select(x => x.Outcome));
        Assert.Equal(0, size.Within);
        // Opposite sign ranks before any ratio; a quantity without a simulated value is never the furthest.
        Assert.Equal("base @ 2x", size.Furthest!.Quantity);
    }

    [Fact]
    public void The_furthest_quantity_is_the_largest_ratio_either_way_before_a_simulated_zero()
    {
        var size = new SizeCheck([
            new("zero", SizeComparison.Change, 10, 0, 0, SizeOutcome.Outside),
            new("small", SizeComparison.Change, 10, 1, 0.1, SizeOutcome.Outside),
            new("large", SizeComparison.Change, 10, 300, 30, SizeOutcome.Outside),
            new("near", SizeComparison.Change, 0.5, 40, null, SizeOutcome.PublishedNearZero),
        ]);
        Assert.Equal("large", size.Furthest!.Quantity);
        Assert.Equal("small", new SizeCheck(size.Comparisons.Where(x => x.Quantity != "large").ToList()).Furthest!.Quantity);
        Assert.Equal("zero", new SizeCheck(size.Comparisons.Where(x => x.Quantity is "zero" or "near").ToList()).Furthest!.Quantity);
    }

    [Fact]
    public void A_qualitative_case_has_nothing_to_compare()
    {
        var c = Case("  - {claim: patched above base, greater: [\"patched @ 1x\", \"base @ 1x\"]}\n");
        c = c with { Published = c.Published with { Qualitative = true } };
        var size = SizeCheck.Of(c, _ => 1);
        Assert.Empty(size.Comparisons);
        Assert.Null(size.AllWithin);
        Assert.Null(size.Furthest);
    }
}
