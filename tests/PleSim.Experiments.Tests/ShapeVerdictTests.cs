using PleSim.Experiments.Reproduce;

namespace PleSim.Experiments.Tests;

/// <summary>The shape verdict's logic, on made-up numbers (the verdict on the model's own results is printed by <c>plesim reproduce</c>, never asserted).</summary>
public class ShapeVerdictTests
{
    private static List<ShapeInput> Table(double none15, double ple15, double none2, double ple2, double? pNone15, double? pPle15, double? pNone2, double? pPle2) =>
    [
        new(8, "none", 0, 100, 100),
        new(8, "directed-yield-2011", 0, 100, 100),
        new(8, "none", 2, none15, pNone15),
        new(8, "directed-yield-2011", 2, ple15, pPle15),
        new(8, "none", 4, none2, pNone2),
        new(8, "directed-yield-2011", 4, ple2, pPle2),
        new(8, "sleep", 4, 80, null),
    ];

    [Fact]
    public void Gains_of_the_same_sign_that_grow_in_both_tables_agree()
    {
        var v = ShapeVerdict.Of(Table(60, 63, 50, 56, 60, 62, 50, 55));
        Assert.Equal(3, v.Checks.Count);
        Assert.All(v.Checks, c => Assert.True(c.Agrees, c.ToString()));
        Assert.Equal("+5.0%", v.Checks[0].Simulated);
        Assert.Equal("+3.3%", v.Checks[0].Published);
        Assert.Equal((6, 6), (v.CellsWithin, v.CellsCompared)); // the sleep row has no published value
    }

    [Fact]
    public void A_loss_where_the_publication_gains_and_a_shrinking_gain_differ()
    {
        var v = ShapeVerdict.Of(Table(60, 57, 50, 40, 60, 62, 50, 55));
        Assert.False(v.Checks[0].Agrees); // -5% vs +3.3%
        Assert.False(v.Checks[1].Agrees); // -20% vs +10%
        Assert.False(v.Checks[2].Agrees); // -5% → -20% does not grow; +3.3% → +10% does
        Assert.Contains("does not grow", v.Checks[2].Simulated, StringComparison.Ordinal);
    }

    [Fact]
    public void Cells_count_as_within_tolerance_by_their_relative_error()
    {
        var v = ShapeVerdict.Of(Table(66.1, 62, 50, 55, 60, 62, 50, 55), tolerance: 0.10);
        Assert.Equal(5, v.CellsWithin); // 66.1 is 10.2% above 60
        Assert.Equal(6, v.CellsCompared);
        Assert.Equal(6, ShapeVerdict.Of(Table(66, 62, 50, 55, 60, 62, 50, 55), tolerance: 0.10).CellsWithin);
    }

    [Fact]
    public void Without_published_values_no_check_agrees()
    {
        var v = ShapeVerdict.Of(Table(60, 63, 50, 56, null, null, null, null));
        Assert.Equal(3, v.Checks.Count);
        Assert.All(v.Checks, c => Assert.False(c.Agrees));
        Assert.Equal(2, v.CellsCompared);
    }
}
