using System.Text.RegularExpressions;
using PleSim.Plugins;

namespace PleSim.Hypervisor;

/// <summary>
/// The plug-in PAUSE handlers, candidate filters and guest spinlock policies (decision 0041) loaded into this process (decision 0028),
/// by name. Loading (an <c>AssemblyLoadContext</c> per file) is done outside the model, by
/// <c>PleSim.Experiments.Plugins.PluginLoader</c>; the model only makes a fresh instance per run.
/// Registration happens before any run starts; lookups are thread-safe.
/// </summary>
public static partial class PluginRegistry
{
    /// <summary>The prefix that selects a plug-in in <c>kvm.ple_handler</c> / <c>kvm.candidate_filter</c>.</summary>
    public const string Prefix = "plugin:";

    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, Type> Handlers = new(StringComparer.Ordinal);
    private static readonly Dictionary<string, Type> Filters = new(StringComparer.Ordinal);
    private static readonly Dictionary<string, Type> GuestLocks = new(StringComparer.Ordinal);

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex NamePattern();

    /// <summary>True if <paramref name="name"/> is a valid plug-in name.</summary>
    public static bool IsValidName(string name) => NamePattern().IsMatch(name);

    /// <summary>Registers a handler type (a public class with a public parameterless constructor). Re-registering the same type is a no-op.</summary>
    public static void RegisterHandler(string name, Type type) => Register(Handlers, "PAUSE handler", name, type);

    /// <summary>Registers a candidate-filter type. Re-registering the same type is a no-op.</summary>
    public static void RegisterFilter(string name, Type type) => Register(Filters, "candidate filter", name, type);

    /// <summary>Registers a guest spinlock policy type (decision 0041). Re-registering the same type is a no-op.</summary>
    public static void RegisterGuestLock(string name, Type type) => Register(GuestLocks, "guest lock", name, type);

    private static void Register(Dictionary<string, Type> map, string what, string name, Type type)
    {
        if (!IsValidName(name))
            throw new ArgumentException($"{type.FullName}: the {what} name '{name}' is not valid (letters, digits, '.', '_', '-'; at most 64 characters)");
        lock (Gate)
        {
            if (map.TryGetValue(name, out var existing))
            {
                if (existing == type)
                    return;
                throw new ArgumentException($"two plug-in {what}s are called '{name}': {existing.FullName} ({Origin(existing)}) and {type.FullName} ({Origin(type)})");
            }
            map[name] = type;
        }
    }

    /// <summary>Where a type came from: its assembly's file (a plug-in loaded from a path), or the
    /// assembly's name when it has no file of its own (a built-in type inside a single-file build).</summary>
    private static string Origin(Type type)
    {
        var assembly = type.Assembly;
        string file = assembly.IsDynamic ? "" : LocationOf(assembly);
        return file.Length > 0 ? file : assembly.GetName().Name ?? assembly.FullName ?? "?";
    }

    [System.Diagnostics.CodeAnalysis.UnconditionalSuppressMessage("SingleFile", "IL3000",
        Justification = "An empty Location (an assembly inside a single-file build) is handled by Origin.")]
    private static string LocationOf(System.Reflection.Assembly assembly) => assembly.Location;

    /// <summary>The registered handler names, sorted.</summary>
    public static IReadOnlyList<string> HandlerNames { get { lock (Gate) return [.. Handlers.Keys.Order(StringComparer.Ordinal)]; } }

    /// <summary>The registered filter names, sorted.</summary>
    public static IReadOnlyList<string> FilterNames { get { lock (Gate) return [.. Filters.Keys.Order(StringComparer.Ordinal)]; } }

    /// <summary>The registered guest-lock names, sorted.</summary>
    public static IReadOnlyList<string> GuestLockNames { get { lock (Gate) return [.. GuestLocks.Keys.Order(StringComparer.Ordinal)]; } }

    public static bool HasGuestLock(string name) { lock (Gate) return GuestLocks.ContainsKey(name); }

    public static bool HasHandler(string name) { lock (Gate) return Handlers.ContainsKey(name); }

    public static bool HasFilter(string name) { lock (Gate) return Filters.ContainsKey(name); }

    /// <summary>A new instance of the handler called <paramref name="name"/>.</summary>
    public static IPauseHandlerPlugin CreateHandler(string name) => (IPauseHandlerPlugin)Create(Handlers, "PAUSE handler", name);

    /// <summary>A new instance of the filter called <paramref name="name"/>.</summary>
    public static IYieldCandidateFilter CreateFilter(string name) => (IYieldCandidateFilter)Create(Filters, "candidate filter", name);

    /// <summary>A new instance of the guest spinlock policy called <paramref name="name"/>.</summary>
    public static IGuestSpinlockPlugin CreateGuestLock(string name) => (IGuestSpinlockPlugin)Create(GuestLocks, "guest lock", name);

    private static object Create(Dictionary<string, Type> map, string what, string name)
    {
        Type? type;
        lock (Gate)
            map.TryGetValue(name, out type);
        if (type is null)
        {
            var known = what switch { "PAUSE handler" => HandlerNames, "guest lock" => GuestLockNames, _ => FilterNames };
            throw new ArgumentException($"no plug-in {what} called '{name}' is loaded ({(known.Count == 0 ? "no plug-in is loaded: pass --plugin PATH.dll" : "loaded: " + string.Join(", ", known))})");
        }
        return Activator.CreateInstance(type) ?? throw new InvalidOperationException($"{type.FullName} could not be created");
    }
}
