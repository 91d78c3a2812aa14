namespace Engine.Provider.Api;

/// <summary>PVE's <c>$log_function</c>: where a provider's messages go, with their level.</summary>
public delegate void ProviderLogFunction(ProviderLogLevel level, string message);
