using System.Reflection;
using System.Reflection.Emit;
using PleSim.Host;

namespace PleSim.Hypervisor.Tests;

/// <summary>
/// The rule (docs/ground-truth.md, decision 0013): KVM's ground-truth reads — who a spinner waits
/// on, whether a guest holds a spinlock, why a VCPU spins, where it is — are an oracle's view that
/// a real host does not have. They feed statistics and traces only; no decision reads them.
/// <para>
/// This test reads the compiled code (IL) of every decision path of the hypervisor model — every
/// PAUSE-exit handler (<see cref="IPleHandler"/>), <see cref="PleHandlers"/>, the co-scheduler
/// (<see cref="Coscheduler"/>, <see cref="CoschedGroup"/>, decision 0040), and <see cref="Kvm"/>
/// except its statistics methods — including the lambdas and local functions they contain, and
/// fails if any of them calls, reads or loads an oracle member. A handler whose type name contains
/// "Oracle" is exempt by name: it is the explicitly allowed upper bound that knows the ground
/// truth. A directed-yield walk that needs the ground truth for its statistics takes an opaque
/// <see cref="YieldToWitness"/> that it can only hand to <see cref="Kvm.CountYieldTo(Vcpu, Vcpu, YieldToWitness, YieldToResult)"/>.
/// </para>
/// </summary>
public class OracleRuleTests
{
    /// <summary>Oracle members, by declaring type: reading any of them is reading ground truth.</summary>
    private static readonly (Type Type, string[] Members)[] Oracles =
    [
        (typeof(Vcpu), ["SpinWaitsOn", "SpinRelationTo", "get_SpinCause", "get_Presence", "get_Spinning", "SpinTimeIn", "ReclassifySpin"]),
        (typeof(IGuestCpu), ["HoldsSpinlock"]),
        (typeof(ISpinTarget), ["WaitsOn", "Cause", "Relation"]),
        (typeof(Vm), ["SpinningMask", "ReclassifySpinners"]),
        (typeof(YieldToWitness), ["get_Relation"]),
        (typeof(GroundTruth), ["*"]),
    ];

    /// <summary>Kvm methods that are statistics, not decisions (they label and count what happened).</summary>
    private static readonly string[] KvmStatistics =
    [
        nameof(Kvm.CountYieldTo), // labels a yield_to with its ground truth
        nameof(Kvm.Switch),       // IHostObserver: classifies lock-holder preemptions
    ];

    private static bool IsOracle(MemberInfo m)
    {
        var declaring = m.DeclaringType;
        if (declaring is null)
            return false;
        if (declaring.IsGenericType)
            declaring = declaring.GetGenericTypeDefinition();
        foreach (var (type, members) in Oracles)
        {
            if (declaring == type && (members[0] == "*" || members.Contains(m.Name)))
                return true;
        }
        return false;
    }

    /// <summary>The decision types: handlers (but any named Oracle), the handler registry, KVM.</summary>
    private static IEnumerable<Type> DecisionTypes() =>
        typeof(Kvm).Assembly.GetTypes()
            .Where(t => t == typeof(Kvm) || t == typeof(PleHandlers) || t == typeof(Coscheduler) || t == typeof(CoschedGroup) || (typeof(IPleHandler).IsAssignableFrom(t) && !t.IsInterface))
            .Where(t => !t.Name.Contains("Oracle", StringComparison.OrdinalIgnoreCase));

    /// <summary>Every method of <paramref name="t"/> and of its nested (compiler-generated closure) types.</summary>
    private static IEnumerable<MethodBase> MethodsOf(Type t)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        foreach (var m in t.GetMethods(all))
            yield return m;
        foreach (var c in t.GetConstructors(all))
            yield return c;
        foreach (var n in t.GetNestedTypes(BindingFlags.Public | BindingFlags.NonPublic))
        {
            foreach (var m in MethodsOf(n))
                yield return m;
        }
    }

    private static readonly Dictionary<short, OpCode> OpCodesByValue =
        typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Select(f => (OpCode)f.GetValue(null)!)
            .ToDictionary(o => o.Value);

    /// <summary>The methods and fields the IL of <paramref name="method"/> refers to.</summary>
    internal static IEnumerable<MemberInfo> References(MethodBase method)
    {
        var il = method.GetMethodBody()?.GetILAsByteArray();
        if (il is null)
            yield break;
        var typeArgs = method.DeclaringType is { IsGenericType: true } dt ? dt.GetGenericArguments() : null;
        var methodArgs = method is MethodInfo { IsGenericMethod: true } mi ? mi.GetGenericArguments() : null;
        int i = 0;
        while (i < il.Length)
        {
            short value = il[i] == 0xFE ? (short)(0xFE00 | il[i + 1]) : il[i];
            i += il[i] == 0xFE ? 2 : 1;
            var op = OpCodesByValue[value];
            int size = op.OperandType switch
            {
                OperandType.InlineNone => 0,
                OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                OperandType.InlineVar => 2,
                OperandType.InlineI8 or OperandType.InlineR => 8,
                OperandType.InlineSwitch => 4 + (4 * BitConverter.ToInt32(il, i)),
                _ => 4,
            };
            if (op.OperandType is OperandType.InlineMethod or OperandType.InlineField or OperandType.InlineTok)
            {
                MemberInfo? member = null;
                try
                {
                    member = method.Module.ResolveMember(BitConverter.ToInt32(il, i), typeArgs, methodArgs);
                }
                catch (ArgumentException)
                {
                }
                if (member is not null)
                    yield return member;
            }
            i += size;
        }
    }

    private static string Name(MethodBase m) => $"{m.DeclaringType!.FullName}.{m.Name}";

    /// <summary>The oracle reads in decision code, as "caller → oracle member" lines.</summary>
    private static List<string> Violations(IEnumerable<Type> decisionTypes, IReadOnlyCollection<string> kvmStatistics)
    {
        var found = new List<string>();
        foreach (var t in decisionTypes)
        {
            foreach (var m in MethodsOf(t))
            {
                if (t == typeof(Kvm) && m.DeclaringType == typeof(Kvm) && kvmStatistics.Contains(m.Name))
                    continue;
                foreach (var r in References(m).Where(IsOracle))
                    found.Add($"{Name(m)} → {r.DeclaringType!.Name}.{r.Name}");
            }
        }
        return found.Distinct().Order(StringComparer.Ordinal).ToList();
    }

    [Fact]
    public void No_decision_path_reads_an_oracle()
    {
        var types = DecisionTypes().ToList();
        Assert.Contains(typeof(DirectedYield), types);
        Assert.Contains(typeof(SleepHandler), types);
        Assert.Contains(typeof(Kvm), types);
        var found = Violations(types, KvmStatistics);
        Assert.True(found.Count == 0, "decision code reads ground truth:\n" + string.Join("\n", found));
    }

    [Fact]
    public void The_scanner_sees_oracle_reads_where_they_are()
    {
        // Kvm's statistics read the oracle (LHP classification, yield_to labels): without the
        // exemption the scan must find them, so a silent scanner cannot pass the rule above.
        var found = Violations([typeof(Kvm)], []);
        Assert.Contains(found, f => f.StartsWith("PleSim.Hypervisor.Kvm.Switch → IGuestCpu.HoldsSpinlock", StringComparison.Ordinal));
        Assert.Contains(found, f => f.StartsWith("PleSim.Hypervisor.Kvm.CountYieldTo → YieldToWitness.get_Relation", StringComparison.Ordinal));
        Assert.Contains(found, f => f.StartsWith("PleSim.Hypervisor.Kvm.CountYieldTo → GroundTruth.", StringComparison.Ordinal));
        // A lambda's body is compiled into a nested type; it is scanned too.
        Assert.Contains(MethodsOf(typeof(OracleRuleTests)).SelectMany(References), m => m.Name == "SpinWaitsOn");
    }

    private static Func<Vcpu, bool> ReadsThroughALambda() => v => v.SpinWaitsOn(v);
}
