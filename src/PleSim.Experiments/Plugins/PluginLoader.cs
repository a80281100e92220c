using System.Reflection;
using System.Runtime.Loader;
using PleSim.Hypervisor;
using PleSim.Plugins;

namespace PleSim.Experiments.Plugins;

/// <summary>A plug-in file that cannot be used: the message says which file and why.</summary>
public sealed class PluginLoadException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>What one plug-in assembly registered.</summary>
public sealed record LoadedPlugin(string Path, IReadOnlyList<string> Handlers, IReadOnlyList<string> Filters, IReadOnlyList<string> GuestLocks);

/// <summary>
/// Loads plug-in assemblies (<c>--plugin PATH.dll</c>, decision 0028), each into its own
/// <see cref="AssemblyLoadContext"/>, and registers every public, non-abstract class that
/// implements <see cref="IPauseHandlerPlugin"/>, <see cref="IYieldCandidateFilter"/> or
/// <see cref="IGuestSpinlockPlugin"/> (decision 0041) in
/// <see cref="PluginRegistry"/> under its <c>Name</c>. The plug-in API assemblies
/// (<c>PleSim.Plugins.Abstractions</c>, <c>PleSim.Engine</c>) always come from the host, so the
/// plug-in's types are the host's types whatever copies sit next to the plug-in; the plug-in's
/// other dependencies resolve from its own directory (its <c>.deps.json</c>).
/// </summary>
public static class PluginLoader
{
    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, LoadedPlugin> Loaded = new(StringComparer.Ordinal);

    /// <summary>Loads <paramref name="path"/> (once per process; a second call returns the first result).</summary>
    public static LoadedPlugin Load(string path)
    {
        string full = System.IO.Path.GetFullPath(path);
        lock (Gate)
        {
            if (Loaded.TryGetValue(full, out var done))
                return done;
            var result = LoadNew(path, full);
            Loaded[full] = result;
            return result;
        }
    }

    private static LoadedPlugin LoadNew(string path, string full)
    {
        if (Directory.Exists(full))
            throw new PluginLoadException($"plug-in '{path}' is a directory; give the .dll built from the plug-in project (e.g. bin/Release/net10.0/My.dll)");
        if (!File.Exists(full))
            throw new PluginLoadException($"plug-in '{path}' does not exist");
        Assembly asm;
        try
        {
            var context = new PluginLoadContext(full);
            asm = context.LoadFromAssemblyPath(full);
        }
        catch (BadImageFormatException e)
        {
            throw new PluginLoadException($"plug-in '{path}' is not a .NET assembly ({e.Message})", e);
        }
        catch (FileLoadException e)
        {
            throw new PluginLoadException($"plug-in '{path}' could not be loaded: {e.Message}", e);
        }
        Type[] types;
        try
        {
            types = asm.GetExportedTypes();
        }
        catch (Exception e) when (e is ReflectionTypeLoadException or FileNotFoundException or FileLoadException or TypeLoadException)
        {
            throw new PluginLoadException($"plug-in '{path}': its types could not be loaded (was it built against this PleSim's PleSim.Plugins.Abstractions?): {e.Message}", e);
        }
        var handlers = new List<string>();
        var filters = new List<string>();
        var guestLocks = new List<string>();
        foreach (var t in types.OrderBy(t => t.FullName, StringComparer.Ordinal))
        {
            bool isHandler = typeof(IPauseHandlerPlugin).IsAssignableFrom(t);
            bool isFilter = typeof(IYieldCandidateFilter).IsAssignableFrom(t);
            bool isGuestLock = typeof(IGuestSpinlockPlugin).IsAssignableFrom(t);
            if (!isHandler && !isFilter && !isGuestLock)
                continue;
            if (t.IsAbstract || t.IsInterface || t.ContainsGenericParameters)
                continue;
            if (t.GetConstructor(Type.EmptyTypes) is null)
                throw new PluginLoadException($"plug-in '{path}': {t.FullName} has no public parameterless constructor (the host makes one instance per run)");
            object instance;
            try
            {
                instance = Activator.CreateInstance(t)!;
            }
            catch (TargetInvocationException e)
            {
                throw new PluginLoadException($"plug-in '{path}': the constructor of {t.FullName} threw {e.InnerException?.GetType().Name}: {e.InnerException?.Message}", e);
            }
            try
            {
                if (isHandler)
                {
                    var name = ((IPauseHandlerPlugin)instance).Name;
                    if (Array.IndexOf(PleHandlers.Names, name) >= 0)
                        throw new PluginLoadException($"plug-in '{path}': {t.FullName} is called '{name}', the name of a built-in handler: plug-in names must differ from the built-in ones");
                    PluginRegistry.RegisterHandler(name, t);
                    handlers.Add(name);
                }
                if (isFilter)
                {
                    var name = ((IYieldCandidateFilter)instance).Name;
                    PluginRegistry.RegisterFilter(name, t);
                    filters.Add(name);
                }
                if (isGuestLock)
                {
                    var name = ((IGuestSpinlockPlugin)instance).Name;
                    PluginRegistry.RegisterGuestLock(name, t);
                    guestLocks.Add(name);
                }
            }
            catch (ArgumentException e)
            {
                throw new PluginLoadException($"plug-in '{path}': {e.Message}", e);
            }
        }
        if (handlers.Count == 0 && filters.Count == 0 && guestLocks.Count == 0)
        {
            throw new PluginLoadException(
                $"plug-in '{path}' defines no public class implementing {nameof(IPauseHandlerPlugin)}, {nameof(IYieldCandidateFilter)} or {nameof(IGuestSpinlockPlugin)} (from PleSim.Plugins.Abstractions)");
        }
        return new LoadedPlugin(full, handlers, filters, guestLocks);
    }

    /// <summary>One plug-in's context: shared API assemblies from the host, the rest from the plug-in's directory.</summary>
    private sealed class PluginLoadContext(string mainPath) : AssemblyLoadContext("plesim-plugin:" + System.IO.Path.GetFileName(mainPath), isCollectible: false)
    {
        private static readonly string[] Shared = ["PleSim.Plugins.Abstractions", "PleSim.Engine"];
        private readonly AssemblyDependencyResolver _resolver = new(mainPath);

        protected override Assembly? Load(AssemblyName name)
        {
            if (Array.IndexOf(Shared, name.Name) >= 0)
                return null; // the host's copy (default context)
            var path = _resolver.ResolveAssemblyToPath(name);
            return path is null ? null : LoadFromAssemblyPath(path);
        }
    }
}
