namespace Engine.Provider.Api;

/// <summary>The levels of PVE's <c>$log_function</c>.</summary>
public enum ProviderLogLevel
{
    /// <summary><c>info</c>.</summary>
    Info,

    /// <summary><c>warn</c>.</summary>
    Warn,

    /// <summary><c>err</c>.</summary>
    Err,
}
