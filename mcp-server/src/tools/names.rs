//! `ToolName`: the names of the task tools, shared by this server, the host's API routes and
//! its offline agent, so no caller spells a tool name by hand.
//!
//! rmcp's `#[tool]` takes each name from its method's name; a test below checks that the
//! router lists exactly these.

use std::fmt;

/// One of the task tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToolName {
    AddTask,
    ListTasks,
    GetTask,
    CompleteTask,
    UpdateTask,
    DeleteTask,
}

impl ToolName {
    pub const ALL: [ToolName; 6] = [
        ToolName::AddTask,
        ToolName::ListTasks,
        ToolName::GetTask,
        ToolName::CompleteTask,
        ToolName::UpdateTask,
        ToolName::DeleteTask,
    ];

    /// The name as MCP clients call it.
    pub const fn as_str(self) -> &'static str {
        match self {
            ToolName::AddTask => "add_task",
            ToolName::ListTasks => "list_tasks",
            ToolName::GetTask => "get_task",
            ToolName::CompleteTask => "complete_task",
            ToolName::UpdateTask => "update_task",
            ToolName::DeleteTask => "delete_task",
        }
    }

    /// The tool called `name`, if it is one of ours.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|tool| tool.as_str() == name)
    }

    /// Whether the tool changes tasks (a frontend refreshes its list after one).
    pub const fn changes_tasks(self) -> bool {
        !matches!(self, ToolName::ListTasks | ToolName::GetTask)
    }
}

impl fmt::Display for ToolName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::TaskServer;

    #[test]
    fn the_router_serves_exactly_these_tools() {
        let mut served: Vec<String> = TaskServer::tool_router()
            .list_all()
            .into_iter()
            .map(|tool| tool.name.into_owned())
            .collect();
        served.sort();
        let mut named: Vec<&str> = ToolName::ALL.iter().map(|tool| tool.as_str()).collect();
        named.sort();
        assert_eq!(served, named);
        for tool in ToolName::ALL {
            assert_eq!(ToolName::parse(tool.as_str()), Some(tool));
        }
        assert_eq!(ToolName::parse("drop_table"), None);
    }
}
