namespace Engine.Fuzz.Support;

/// <summary>
/// Thrown by a target when the code under test swallowed an exception it should never have seen (an internal
/// error turned into a reply or a log line): the fuzzer must see a crash, and the inner exception says where.
/// </summary>
public sealed class UnexpectedException(string message, Exception? inner = null) : Exception(message, inner);
