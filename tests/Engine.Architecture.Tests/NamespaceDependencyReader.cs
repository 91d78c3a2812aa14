using Mono.Cecil;

namespace Engine.Architecture.Tests;

/// <summary>
/// Reads which namespace of an assembly uses which other namespace of the same assembly, from its IL: base types,
/// interfaces, member signatures, attributes, locals, caught exceptions and every type, method and field a method
/// body names. Nested and compiler-made types (closures, state machines) count for the namespace of the type they
/// sit in. The IL is what the compiler resolved, so the namespaces C# puts in scope without a <c>using</c> (the
/// enclosing ones) are seen as well.
/// </summary>
internal static class NamespaceDependencyReader
{
    /// <summary>
    /// The graph of the namespaces under <paramref name="rootNamespace"/> in the assembly at <paramref name="path"/>;
    /// types outside it (compiler-generated helpers in the global or System namespaces) are left out.
    /// </summary>
    public static DependencyGraph Read(string path, string rootNamespace)
    {
        using var module = ModuleDefinition.ReadModule(path, new ReaderParameters { ReadingMode = ReadingMode.Deferred });
        var graph = new DependencyGraph();
        foreach (var type in module.GetTypes())
        {
            var from = NamespaceOf(type);
            if (!IsUnder(from, rootNamespace))
            {
                continue;
            }

            graph.AddNode(from);
            var sink = new UseSink(graph, module, rootNamespace, from, OuterMost(type).Name);
            CollectUses(type, sink);
        }

        return graph;
    }

    private static bool IsUnder(string ns, string root) =>
        ns == root || ns.StartsWith(root + ".", StringComparison.Ordinal);

    private static TypeReference OuterMost(TypeReference type)
    {
        while (type.DeclaringType is not null)
        {
            type = type.DeclaringType;
        }

        return type;
    }

    private static string NamespaceOf(TypeReference type) => OuterMost(type).Namespace;

    private static void CollectUses(TypeDefinition type, UseSink sink)
    {
        sink.Add(type.BaseType);
        foreach (var implemented in type.Interfaces)
        {
            sink.Add(implemented.InterfaceType);
        }

        sink.AddAttributes(type);
        sink.AddGenericParameters(type);
        foreach (var field in type.Fields)
        {
            sink.Add(field.FieldType);
            sink.AddAttributes(field);
        }

        foreach (var property in type.Properties)
        {
            sink.Add(property.PropertyType);
            sink.AddAttributes(property);
        }

        foreach (var @event in type.Events)
        {
            sink.Add(@event.EventType);
        }

        foreach (var method in type.Methods)
        {
            CollectUses(method, sink);
        }
    }

    private static void CollectUses(MethodDefinition method, UseSink sink)
    {
        sink.AddSignature(method);
        sink.AddAttributes(method);
        sink.AddGenericParameters(method);
        foreach (var overridden in method.Overrides)
        {
            sink.Add(overridden);
        }

        if (!method.HasBody)
        {
            return;
        }

        foreach (var variable in method.Body.Variables)
        {
            sink.Add(variable.VariableType);
        }

        foreach (var handler in method.Body.ExceptionHandlers)
        {
            sink.Add(handler.CatchType);
        }

        foreach (var instruction in method.Body.Instructions)
        {
            switch (instruction.Operand)
            {
                case TypeReference type:
                    sink.Add(type);
                    break;
                case MethodReference called:
                    sink.Add(called);
                    break;
                case FieldReference field:
                    sink.Add(field.DeclaringType);
                    sink.Add(field.FieldType);
                    break;
                case CallSite site:
                    sink.Add(site.ReturnType);
                    foreach (var parameter in site.Parameters)
                    {
                        sink.Add(parameter.ParameterType);
                    }

                    break;
            }
        }
    }

    /// <summary>Turns each type a member names into an edge from the namespace being read, when it is one of ours.</summary>
    private sealed class UseSink(DependencyGraph graph, ModuleDefinition module, string root, string from, string fromType)
    {
        public void Add(TypeReference? type)
        {
            switch (type)
            {
                case null:
                    return;
                case GenericInstanceType generic:
                    Add(generic.ElementType);
                    foreach (var argument in generic.GenericArguments)
                    {
                        Add(argument);
                    }

                    return;
                case FunctionPointerType pointer:
                    Add(pointer.ReturnType);
                    foreach (var parameter in pointer.Parameters)
                    {
                        Add(parameter.ParameterType);
                    }

                    return;
                case TypeSpecification specification:
                    // Arrays, pointers, by-refs and modifiers: what matters is the type they wrap.
                    Add(specification.ElementType);
                    return;
                case GenericParameter:
                    return;
            }

            // Types of other assemblies have an assembly reference as their scope; ours have this module.
            if (type.Scope != module)
            {
                return;
            }

            var to = NamespaceOf(type);
            if (IsUnder(to, root))
            {
                graph.AddEdge(from, to, $"{fromType} uses {OuterMost(type).Name}");
            }
        }

        public void Add(MethodReference method)
        {
            Add(method.DeclaringType);
            AddSignature(method);
            if (method is GenericInstanceMethod generic)
            {
                foreach (var argument in generic.GenericArguments)
                {
                    Add(argument);
                }
            }
        }

        public void AddSignature(MethodReference method)
        {
            Add(method.ReturnType);
            foreach (var parameter in method.Parameters)
            {
                Add(parameter.ParameterType);
            }
        }

        public void AddAttributes(ICustomAttributeProvider provider)
        {
            foreach (var attribute in provider.CustomAttributes)
            {
                Add(attribute.AttributeType);
            }
        }

        public void AddGenericParameters(IGenericParameterProvider provider)
        {
            foreach (var parameter in provider.GenericParameters)
            {
                foreach (var constraint in parameter.Constraints)
                {
                    Add(constraint.ConstraintType);
                }
            }
        }
    }
}
