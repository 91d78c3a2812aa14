namespace Engine.Nbd.Server.MetaContexts;

/// <summary>
/// The metadata contexts one export offers. Context IDs are the registration index, which is stable for the life
/// of the export; the protocol lets clients treat them as opaque.
/// </summary>
public sealed class MetaContextRegistry
{
    private readonly List<IMetaContext> _contexts = [];
    private readonly Lock _lock = new();

    /// <summary>Each <see cref="NbdExport"/> makes its own, with <c>base:allocation</c> in it.</summary>
    internal MetaContextRegistry()
    {
    }

    /// <summary>Adds a context. Contexts may be added while the server runs; new connections see them.</summary>
    /// <exception cref="ArgumentException">The name is malformed or already registered.</exception>
    public void Register(IMetaContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var colon = context.Name.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || colon == context.Name.Length - 1)
        {
            throw new ArgumentException($"meta context name '{context.Name}' must be 'namespace:leaf'", nameof(context));
        }

        lock (_lock)
        {
            if (FindIdLocked(context.Name) >= 0)
            {
                throw new ArgumentException($"meta context '{context.Name}' is already registered", nameof(context));
            }

            _contexts.Add(context);
        }
    }

    /// <summary>Number of registered contexts.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _contexts.Count;
            }
        }
    }

    /// <summary>The context with the given ID, or null.</summary>
    internal IMetaContext? this[uint id]
    {
        get
        {
            lock (_lock)
            {
                return id < (uint)_contexts.Count ? _contexts[(int)id] : null;
            }
        }
    }

    /// <summary>Finds the ID of the context with exactly this name.</summary>
    internal bool TryFind(string name, out uint id)
    {
        lock (_lock)
        {
            var index = FindIdLocked(name);
            id = (uint)Math.Max(index, 0);
            return index >= 0;
        }
    }

    /// <summary>
    /// IDs of the contexts a <c>NBD_OPT_LIST_META_CONTEXT</c> query names: an exact name, or a prefix ending in ':'
    /// (<c>base:</c>, <c>qemu:</c>, <c>qemu:dirty-bitmap:</c>) which lists every context under it.
    /// </summary>
    internal void MatchQuery(string query, List<uint> ids)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(ids);
        lock (_lock)
        {
            for (var i = 0; i < _contexts.Count; i++)
            {
                var name = _contexts[i].Name;
                var matches = query.EndsWith(':')
                    ? name.StartsWith(query, StringComparison.Ordinal)
                    : name.Equals(query, StringComparison.Ordinal);
                if (matches && !ids.Contains((uint)i))
                {
                    ids.Add((uint)i);
                }
            }
        }
    }

    /// <summary>IDs of every context.</summary>
    internal void All(List<uint> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        lock (_lock)
        {
            for (var i = 0; i < _contexts.Count; i++)
            {
                ids.Add((uint)i);
            }
        }
    }

    private int FindIdLocked(string name)
    {
        for (var i = 0; i < _contexts.Count; i++)
        {
            if (_contexts[i].Name.Equals(name, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }
}
